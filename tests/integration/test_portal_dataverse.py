"""The portal against the Dataverse sandbox over real HTTP (and the Partner Center sandbox for MCA)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from tests.plugins.portal import PortalBrowser

pytestmark = pytest.mark.integration


def _rows(dv, entity_set, filter_=None):
    return list(dv.list(entity_set, filter=filter_))


def test_repository_reads_are_scoped_to_the_customer(portal_dv):
    from portal.dataverse_repo import DataverseRepository

    dv, ids = portal_dv
    repo = DataverseRepository(dv)
    contoso = ids["acc-contoso"]
    assert {s.name for s in repo.list_subscriptions(contoso)} == {"Microsoft 365 Business Premium",
                                                                   "Microsoft Teams Essentials"}
    assert repo.get_subscription(contoso, ids["s-fab"]) is None
    assert repo.get_invoice(contoso, ids["i-fab"]) is None
    assert repo.get_contract(contoso, ids["k-fabrikam"]) is None
    assert repo.list_offers(contoso, ids["k-fabrikam"]) == []
    assert repo.get_subscription(contoso, "not-a-guid") is None
    invoice = repo.get_invoice(contoso, ids["i-1"])
    assert invoice.total == sum(line.amount for line in invoice.lines)
    assert {o.unit_name for o in repo.list_offers(contoso, ids["k-contoso"])} == {"P1Y monthly", "P1M monthly"}
    assert [c.email for c in repo.list_signin_contacts()].count("ada@contoso.example") == 1
    assert repo.find_contact_by_subject("oid-ada").id == ids["c-admin"]


def test_seeding_twice_changes_nothing(portal_dv):
    from portal.dataverse_seed import seed_dataverse

    dv, ids = portal_dv
    assert seed_dataverse(dv).ids == ids.ids
    assert len(_rows(dv, "contacts")) == 4


def test_seat_change_through_the_app_writes_one_portal_change_log(portal_dv, portal_dv_app):
    dv, ids = portal_dv
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["c-subs"])
    r = browser.post(f"/subscriptions/{ids['s-teams']}/seats", {"quantity": "30"})
    assert r.status_code == 302
    token = browser.csrf(f"/subscriptions/{ids['s-teams']}")
    # a double-submitted form (same values, same minute) finds the first change log
    browser.post(f"/subscriptions/{ids['s-teams']}/seats", {"quantity": "30", "csrf_token": token})
    (row,) = _rows(dv, "cspb_licensechangelogs")
    assert (row["cspb_origin"], row["cspb_provisioningstatus"], row["cspb_changetype"]) == (2, 1, 2)
    assert (row["cspb_oldquantity"], row["cspb_newquantity"]) == (25, 30)
    assert row["_cspb_subscription_value"] == ids["s-teams"]
    assert row["cspb_requestedby"] == "sam@contoso.example"
    # the worker's write-back shows on the page
    dv.update("cspb_licensechangelogs", row["cspb_licensechangelogid"],
              {"cspb_provisioningstatus": 3, "cspb_error": "provider said no"})
    page = browser.get(f"/subscriptions/{ids['s-teams']}").get_data(as_text=True)
    assert "Failed" in page and "provider said no" in page


def test_other_customers_ids_are_404_over_dataverse(portal_dv, portal_dv_app):
    dv, ids = portal_dv
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["c-admin"])
    for path in (f"/subscriptions/{ids['s-fab']}", f"/invoices/{ids['i-fab']}", f"/invoices/{ids['i-fab']}/download",
                 f"/shop?contract={ids['k-fabrikam']}"):
        assert browser.get(path).status_code == 404, path
    assert browser.post(f"/subscriptions/{ids['s-fab']}/seats", {"quantity": "41"}).status_code == 404
    assert _rows(dv, "cspb_licensechangelogs") == []


def test_buy_creates_pending_subscription_and_new_change_log(portal_dv, portal_dv_app):
    dv, ids = portal_dv
    dv.update("cspb_provideraccounts", ids["pa-acc-contoso"], {"cspb_mcaattested": True})
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["c-admin"])
    offers = browser.get("/shop").get_data(as_text=True)
    assert "Visio Plan 2" in offers
    product = ids["p-visio"]
    unit = next(u["uomid"] for u in _rows(dv, "uoms") if u["name"] == "P1Y monthly")
    r = browser.post("/shop/buy", {"contract_id": ids["k-contoso"], "offer": f"{product}:{unit}", "quantity": "3"},
                     token_from="/shop")
    assert r.status_code == 302
    (change,) = _rows(dv, "cspb_licensechangelogs")
    assert (change["cspb_changetype"], change["cspb_newquantity"], change["cspb_origin"]) == (1, 3, 2)
    sub = dv.get("cspb_subscriptions", change["_cspb_subscription_value"])
    assert (sub["cspb_status"], sub["cspb_term"], sub["cspb_billingfrequency"]) == (5, "P1Y", "P1M")
    assert sub["_cspb_provideraccount_value"] == ids["pa-acc-contoso"]
    assert sub["cspb_skuid"] == "0001" and sub["cspb_productid"] == "CFQ7TTC0HD33"


def test_mca_acceptance_attests_at_partner_center(dv, portal_mca_app):
    app, ids = portal_mca_app
    browser = PortalBrowser(app)
    browser.sign_in(ids["c-admin"])
    r = browser.post("/agreement", {"accept": "yes"}, token_from="/agreement")
    assert r.status_code == 302
    assert dv.get("cspb_provideraccounts", ids["pa-acc-contoso"])["cspb_mcaattested"] is True
    (agreement,) = _rows(dv, "cspb_agreements")
    assert agreement["cspb_status"] == 2 and agreement["cspb_email"] == "ada@contoso.example"
    assert "Accepted on" in browser.get("/agreement").get_data(as_text=True)


def test_assessment_snapshots_compare_with_the_previous_run(portal_dv, tmp_path):
    from portal import assessment
    from portal.assessment_source import DataverseAssessmentSource

    dv, ids = portal_dv
    source = DataverseAssessmentSource(dv)
    first = assessment.run(source, as_of=date(2026, 11, 1))
    assert first.previous is None
    usd = first.report.currencies["USD"]
    assert str(usd.mrr) == "364.00"  # 10 x 26.40 + 25 x 48.00 / 12
    assert first.report.currencies["EUR"].seats == 40
    dv.update("cspb_subscriptions", ids["s-m365"], {"cspb_quantity": 12})
    dv.create("cspb_licensechangelogs", {
        "cspb_name": "inc", "cspb_changekey": "t1", "cspb_changetype": 2, "cspb_oldquantity": 10,
        "cspb_newquantity": 12, "cspb_provisioningstatus": 2, "cspb_origin": 1,
        "cspb_effectivedate": datetime(2026, 11, 20, tzinfo=UTC).isoformat(),
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({ids['s-m365']})"})
    second = assessment.run(source, as_of=date(2026, 11, 25))
    assert second.previous["as_of"] == "2026-11-01"
    assert str(second.deltas["USD"]["mrr"]) == "52.80"
    assert second.report.changes_touchless == 1
    # leakage: 12 seats at the provider, the last invoice billed 10
    assert second.report.currencies["USD"].leaked_seats == 2
    assert len(_rows(dv, "cspb_kpisnapshots")) == 2
    assessment.run(source, as_of=date(2026, 11, 25))  # same day again replaces, never adds
    assert len(_rows(dv, "cspb_kpisnapshots")) == 2
    # the recon report's unbilled provider charges (recon/run.py writes findings.csv)
    from billing.kpis import ReconLeakFact
    from portal.assessment_source import recon_leaks
    from shared.blobstore import LocalBlobStore

    store = LocalBlobStore(tmp_path / "blobs")
    header = "kind,tenant_id,account_id,subscription_id,currency,amount,provider_quantity,crm_quantity,description\n"
    store.put("recon/2026-10/report/findings.csv", (header + "billed_by_provider_not_to_customer,t,,s,USD,99.00,3,,x\n"
                                                    "quantity_mismatch,t,,s,USD,5.00,3,2,y\n").encode())
    store.put("recon/2026-12/report/findings.csv", (header + "billed_by_provider_not_to_customer,t,,s,USD,1.00,1,,z\n").encode())
    assert recon_leaks(store, date(2026, 11, 25)) == [
        ReconLeakFact("USD", Decimal("99.00"), Decimal("3"), customer="t"),
        ReconLeakFact("USD", Decimal("5.00"), None, kind="quantity_mismatch", customer="t")]
    with_recon = assessment.run(DataverseAssessmentSource(dv, store=store), as_of=date(2026, 11, 25), store=False)
    assert str(with_recon.report.currencies["USD"].recon_unbilled_cost) == "99.00"
    html = assessment.to_html(second, "es")
    assert "<svg" in html and "Ingresos recurrentes mensuales" in html
    assert assessment.to_csv(second).splitlines()[0].startswith("as_of,currency,mrr")


def test_assess_cli_writes_csv_and_html(portal_dv, dv_server, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from cli.main import cli
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    result = CliRunner().invoke(cli, ["assess", "--as-of", "2026-11-25", "--out", str(tmp_path), "--lang", "es"])
    assert result.exit_code == 0, result.output
    assert "USD: MRR 364.00" in result.output
    assert (tmp_path / "kpis-2026-11-25.csv").read_text().count("\n") == 3  # header + USD + EUR
    assert "Evaluación" in (tmp_path / "kpis-2026-11-25.html").read_text(encoding="utf-8")


def _stripe_card_entry(dv, stripe_server, store=None):
    """Integrations for hosted card entry + paying against the Stripe sandbox."""
    from dataverse.stores.payments import for_invoice as invoice_payments
    from payments import card_entry, links
    from payments import service as payments
    from payments.stripe_adapter import StripeProcessor
    from portal.services import Integrations
    from shared.blobstore import blob_store_from_settings
    from shared.http import RetryPolicy

    stripe = StripeProcessor("sk_test_1", api_base=stripe_server.url, timeout=5,
                             retry=RetryPolicy(max_attempts=3, base_seconds=0.01, cap_seconds=0.05))
    store = store or blob_store_from_settings()
    return Integrations(
        create_payment_link=links.create_payment_link,
        start_card_entry=lambda token, ok, cancel: card_entry.start(token, success_url=ok, cancel_url=cancel, dv=dv,
                                                                    processor=stripe, store=store),
        finish_card_entry=lambda token, ref: card_entry.finish(token, ref, dv=dv, processor=stripe, store=store),
        invoice_card_link=lambda invoice: card_entry.link_for_invoice(invoice.id, dv=dv),
        payment_history=lambda invoice: invoice_payments(dv, invoice.id),
        pay_invoice=lambda invoice, purpose: payments.charge_invoice(invoice.id, purpose=purpose, dv=dv,
                                                                     processor=stripe),
        payment_outcome=lambda invoice, key: payments.attempt_outcome(invoice.id, key, dv=dv, processor=stripe))


def _back_to_portal(response) -> str:
    assert response.status_code == 303, response.text
    return response.headers["Location"].split("/portal", 1)[1]


def test_payment_link_page_saves_a_card_typed_on_the_hosted_page(portal_dv, stripe_server):
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from shared.config import get_settings
    from tests.plugins.payments import type_card

    dv, ids = portal_dv
    app = create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                     integrations=_stripe_card_entry(dv, stripe_server))
    browser = PortalBrowser(app)
    browser.sign_in(ids["c-fin"])
    r = browser.post(f"/payment/{ids['k-contoso']}/link", token_from="/payment")
    pay_path = r.headers["Location"].split("/portal", 1)[1]
    assert pay_path.startswith("/pay/")
    hosted = browser.post(pay_path, token_from=pay_path)
    assert hosted.status_code == 303 and "/c/pay/cs_test_" in hosted.headers["Location"]
    declined = type_card(hosted.headers["Location"], "4000 0000 0000 0002")
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    done = browser.get(_back_to_portal(type_card(hosted.headers["Location"], "4242 4242 4242 4242")))
    assert done.status_code == 200 and "Visa card ending in 4242 is saved" in done.get_data(as_text=True)
    contract = dv.get("cspb_billingcontracts", ids["k-contoso"])
    assert contract["cspb_paymenttoken"].startswith("cus_") and "4242" not in contract["cspb_paymenttoken"]
    assert browser.post(pay_path, token_from=pay_path).status_code == 400  # single use
    assert "On file" in browser.get("/payment").get_data(as_text=True)


def test_portal_seat_change_is_provisioned_by_the_sync_worker(dv, pc_server):
    """The portal's change log takes the same path as a sales rep's: the provisioning worker
    (sync.provisioning) sends it to the Partner Center sandbox and writes the result back."""
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.dataverse_seed import seed_dataverse
    from shared.auth import static_token
    from shared.config import get_settings
    from sync.provisioning import process_change

    adapter = PartnerCenterAdapter(pc_server.url, static_token("t"), timeout=10)
    target = next(s for c in adapter.list_companies() for s in adapter.list_subscriptions(c.id)
                  if s.status.lower() == "active" and s.quantity > 1)
    ids = seed_dataverse(dv, tenant_ids={"acc-contoso": target.company_id})
    dv.update("cspb_subscriptions", ids["s-teams"], {"cspb_providersubscriptionid": target.id,
                                                     "cspb_quantity": target.quantity})
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal"))
    browser.sign_in(ids["c-subs"])
    browser.post(f"/subscriptions/{ids['s-teams']}/seats", {"quantity": str(target.quantity + 2)})
    (row,) = _rows(dv, "cspb_licensechangelogs")
    outcome = process_change(row["cspb_licensechangelogid"], dv=dv, adapters={1: adapter})
    assert outcome.status == "Provisioned", outcome
    assert adapter.get_subscription(target.id, company_id=target.company_id).quantity == target.quantity + 2
    page = browser.get(f"/subscriptions/{ids['s-teams']}").get_data(as_text=True)
    assert "Provisioned" in page and f'id="quantity">{target.quantity + 2}<' in page


def test_invoice_download_over_dataverse_is_the_posted_invoice_pdf(portal_dv):
    import io

    from pypdf import PdfReader

    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.wiring import integrations_for
    from shared.config import get_settings

    dv, ids = portal_dv
    app = create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                     integrations=integrations_for(dv, get_settings()))
    browser = PortalBrowser(app)
    browser.sign_in(ids["f-admin"])
    r = browser.get(f"/invoices/{ids['i-fab']}/download")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(r.get_data())).pages)
    assert "Microsoft 365 E3" in text and "Fabrikam" in text
    other = PortalBrowser(app)
    other.sign_in(ids["c-fin"])
    assert other.get(f"/invoices/{ids['i-fab']}/download").status_code == 404


def test_pay_this_invoice_with_the_saved_card_then_a_new_one(portal_dv, stripe_server):
    import re

    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from shared.config import get_settings
    from tests.plugins.payments import type_card

    dv, ids = portal_dv
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=_stripe_card_entry(dv, stripe_server)))
    browser.sign_in(ids["f-admin"])
    path = f"/invoices/{ids['i-fab']}"

    def form(**extra: str) -> dict[str, str]:
        attempt = re.search(r'name="attempt" value="([^"]+)"', browser.get(path).get_data(as_text=True)).group(1)
        return {"attempt": attempt, **extra}

    # A saved card that declines every charge (attaches fine): shown in Spanish, recorded in the history.
    r = browser.post(f"/payment/{ids['k-fabrikam']}/link", token_from="/payment")
    pay_path = r.headers["Location"].split("/portal", 1)[1]
    hosted = browser.post(pay_path, token_from=pay_path).headers["Location"]
    browser.get(_back_to_portal(type_card(hosted, "4000000000000341")))
    declined = browser.post(path + "/pay", form(), token_from=path).get_data(as_text=True)
    assert "La tarjeta fue rechazada" in declined and "Respuesta del proveedor" in declined
    assert "Fallido" in declined.split('id="payment-history"', 1)[1]

    # Pay with a new card: the hosted page (3-D Secure challenge passed), back to the invoice, paid.
    hosted = browser.post(path + "/pay", form(method="new"), token_from=path)
    assert hosted.status_code == 303 and "/c/pay/cs_test_" in hosted.headers["Location"]
    paid = browser.get(_back_to_portal(type_card(hosted.headers["Location"], "4000 0025 0000 3155")),
                       follow_redirects=True)
    text = paid.get_data(as_text=True)
    assert "Gracias: se han pagado" in text, text
    assert paid.request.path == "/portal" + path  # on the invoice's own page, not the card-entry return
    assert _money_is_zero(dv.get("invoices", ids["i-fab"]).get("cspb_balance"))
    receipt = re.search(r'href="/portal(/invoices/[^"]+/receipts/[^"]+)"', text).group(1)
    page = browser.get(receipt).get_data(as_text=True)
    assert "Recibo de pago" in page and "1428,00" in page.replace(".", "") and "pi_" in page


def test_a_receipt_keeps_the_balance_right_after_its_payment(portal_dv, stripe_server, stripe_method_token):
    """Two partial payments on Fabrikam's 1.428,00 EUR invoice: the first one's receipt, downloaded again
    after the second payment, still shows the balance after the first (and the same bytes); the second
    one's shows the invoice paid. The portal's receipt page says the same."""
    import io

    from pypdf import PdfReader

    from payments.service import charge_invoice
    from payments.stripe_adapter import StripeProcessor
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.wiring import integrations_for
    from shared.config import get_settings

    dv, ids = portal_dv
    dv.update("cspb_billingcontracts", ids["k-fabrikam"], {"cspb_paymentprovider": "stripe",
                                                          "cspb_paymenttoken": stripe_method_token()})
    stripe = StripeProcessor("sk_test_1", api_base=stripe_server.url, timeout=5)
    first = charge_invoice(ids["i-fab"], amount=Decimal("428.00"), purpose="first", dv=dv, processor=stripe)
    assert (first.status, first.balance) == ("succeeded", Decimal("1000.00"))
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=integrations_for(dv, get_settings())))
    browser.sign_in(ids["f-admin"])
    receipt = f"/invoices/{ids['i-fab']}/receipts/{first.key}"

    def pdf_text(data: bytes) -> str:
        return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(data)).pages).replace("\xa0", " ")

    at_the_time = browser.get(receipt + "/download").get_data()
    assert "Saldo tras este pago 1.000,00 €" in pdf_text(at_the_time)

    second = charge_invoice(ids["i-fab"], purpose="second", dv=dv, processor=stripe)
    assert (second.status, second.amount) == ("succeeded", Decimal("1000.00"))
    assert _money_is_zero(dv.get("invoices", ids["i-fab"]).get("cspb_balance"))
    later = browser.get(receipt + "/download").get_data()
    assert later == at_the_time
    # Told apart by Dataverse's row version even when both settled within the same second.
    from dataverse.stores.payments import for_invoice

    versions = [p.version for p in for_invoice(dv, ids["i-fab"]) if p.succeeded]
    assert len(versions) == 2 and all(versions) and len(set(versions)) == 2
    text = pdf_text(later)
    assert "Este pago 428,00 €" in text and "Pagado hasta la fecha 428,00 €" in text
    page = browser.get(receipt).get_data(as_text=True).replace("\xa0", " ")
    assert "1.000,00 €" in page and "Saldo tras este pago" in page
    text = pdf_text(browser.get(f"/invoices/{ids['i-fab']}/receipts/{second.key}/download").get_data())
    assert "Pagado hasta la fecha 1.428,00 €" in text and "Saldo tras este pago 0,00 €" in text


def _money_is_zero(value) -> bool:
    from decimal import Decimal

    return Decimal(str(value or 0)) == 0


def test_authorizenet_contract_adds_a_card_on_accept_customer(portal_dv, authorizenet_hosted):
    """A contract paid through Authorize.Net: the portal posts the page token to the hosted form, the
    customer types a test card there and continues back; the card is on the contract."""
    import re

    import requests

    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.wiring import integrations_for
    from shared.config import get_settings

    dv, ids = portal_dv
    dv.update("cspb_billingcontracts", ids["k-contoso"], {"cspb_paymentprovider": "authorizenet"})
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=integrations_for(dv, get_settings())))
    browser.sign_in(ids["c-fin"])
    r = browser.post(f"/payment/{ids['k-contoso']}/link", token_from="/payment")
    pay_path = r.headers["Location"].split("/portal", 1)[1]
    page = browser.post(pay_path, token_from=pay_path).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)" id="hosted-form">', page).group(1)
    assert action == authorizenet_hosted.url + "/customer/addPayment" and "autosubmit.js" in page
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', page.split('id="hosted-form"')[1]))
    assert set(fields) == {"token"}
    form = requests.post(action, data=fields, timeout=5)
    assert 'id="cardNum"' in form.text
    done = requests.post(action, data={**fields, "cardNumber": "4111111111111111", "expirationDate": "1234",
                                       "cardCode": "123", "zip": "98004"}, timeout=5)
    back = re.search(r'id="continue" href="([^"]+)"', done.text).group(1).replace("&amp;", "&")
    saved = browser.get(back.split("/portal", 1)[1])
    assert saved.status_code == 200 and "card ending in 1111 is saved" in saved.get_data(as_text=True)
    token = dv.get("cspb_billingcontracts", ids["k-contoso"])["cspb_paymenttoken"]
    assert re.fullmatch(r"\d+/\d+", token)


def test_an_old_3d_secure_link_cannot_pay_twice_once_a_new_card_paid(portal_dv, stripe_server):
    """The saved card needs 3-D Secure (the customer gets a link), the customer pays with a new card
    instead: the waiting attempt is cancelled, so following the old link takes nothing."""
    import re

    import requests

    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from shared.config import get_settings
    from tests.plugins.payments import type_card

    dv, ids = portal_dv
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=_stripe_card_entry(dv, stripe_server)))
    browser.sign_in(ids["f-admin"])
    path = f"/invoices/{ids['i-fab']}"

    def form(**extra: str) -> dict[str, str]:
        attempt = re.search(r'name="attempt" value="([^"]+)"', browser.get(path).get_data(as_text=True)).group(1)
        return {"attempt": attempt, **extra}

    r = browser.post(f"/payment/{ids['k-fabrikam']}/link", token_from="/payment")
    pay_path = r.headers["Location"].split("/portal", 1)[1]
    browser.get(_back_to_portal(type_card(browser.post(pay_path, token_from=pay_path).headers["Location"],
                                          "4000002760003184")))
    page = browser.post(path + "/pay", form(), token_from=path).get_data(as_text=True)
    link = re.search(r'id="authenticate" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    hosted = browser.post(path + "/pay", form(method="new"), token_from=path).headers["Location"]
    paid = browser.get(_back_to_portal(type_card(hosted, "4242424242424242")), follow_redirects=True).get_data(as_text=True)
    assert "Gracias: se han pagado" in paid
    history = paid.split('id="payment-history"', 1)[1]
    assert "Fallido" in history and "Pagado" in history and "Pendiente" not in history
    assert "la factura se pagó con otro pago" in history
    assert requests.get(link, allow_redirects=False, timeout=5).status_code == 404  # nothing left to authenticate
    invoice = dv.get("invoices", ids["i-fab"])
    assert _money_is_zero(invoice["cspb_balance"]) and str(invoice["cspb_amountpaid"]).startswith("1428")


def _three_d_secure_charge(portal_dv, stripe_server):
    """Fabio saves the 3184 card (3-D Secure on setup and on every charge) and pays INV-0002 with it:
    the charge answers requires_action. Returns (browser, ids, dv, the invoice path, the bank's link)."""
    import re

    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from shared.config import get_settings
    from tests.plugins.payments import type_card

    dv, ids = portal_dv
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=_stripe_card_entry(dv, stripe_server)))
    browser.sign_in(ids["f-admin"])
    path = f"/invoices/{ids['i-fab']}"
    r = browser.post(f"/payment/{ids['k-fabrikam']}/link", token_from="/payment")
    pay_path = r.headers["Location"].split("/portal", 1)[1]
    browser.get(_back_to_portal(type_card(browser.post(pay_path, token_from=pay_path).headers["Location"],
                                          "4000002760003184")))
    attempt = re.search(r'name="attempt" value="([^"]+)"', browser.get(path).get_data(as_text=True)).group(1)
    page = browser.post(path + "/pay", {"attempt": attempt}, token_from=path).get_data(as_text=True)
    link = re.search(r'id="authenticate" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    return browser, ids, dv, path, link


def test_after_3d_secure_on_a_charge_the_customer_is_back_on_the_invoice_and_sees_it_paid(portal_dv, stripe_server):
    """No webhook endpoint is registered here: the invoice page itself reads the attempt back from Stripe."""
    import requests

    browser, ids, dv, path, link = _three_d_secure_charge(portal_dv, stripe_server)
    challenge = requests.get(link, timeout=5)
    assert challenge.status_code == 200 and 'id="test-source-authorize-3ds"' in challenge.text  # the bank's page
    back = requests.get(link, params={"result": "succeed"}, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    location = back.headers["Location"]
    assert location.split("/portal", 1)[1].startswith(path + "?payment=pay-"), location
    assert "payment_intent=pi_" in location and "redirect_status=succeeded" in location
    page = browser.get(location.split("/portal", 1)[1])
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "Gracias: se han pagado" in text, text
    assert "Pagado" in text.split('id="payment-history"', 1)[1] and 'id="pay-saved"' not in text
    assert _money_is_zero(dv.get("invoices", ids["i-fab"])["cspb_balance"])
    again = browser.get(location.split("/portal", 1)[1]).get_data(as_text=True)  # a reload charges nothing
    assert "Gracias: se han pagado" in again
    assert len(list(dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-fab']}"))) == 1


def test_a_failed_3d_secure_brings_the_customer_back_to_the_invoice_still_due(portal_dv, stripe_server):
    import requests

    browser, ids, dv, path, link = _three_d_secure_charge(portal_dv, stripe_server)
    back = requests.get(link, params={"result": "fail"}, allow_redirects=False, timeout=5)
    text = browser.get(back.headers["Location"].split("/portal", 1)[1]).get_data(as_text=True)
    assert "Su banco no pudo confirmar este pago" in text, text
    assert "Fallido" in text.split('id="payment-history"', 1)[1] and 'id="pay-saved"' in text
    assert str(dv.get("invoices", ids["i-fab"])["cspb_balance"]).startswith("1428")


def test_a_signed_out_customer_coming_back_from_the_bank_signs_in_and_lands_on_the_invoice(portal_dv, stripe_server):
    import requests

    from tests.plugins.portal import PortalBrowser as Fresh

    browser, ids, dv, path, link = _three_d_secure_charge(portal_dv, stripe_server)
    back = requests.get(link, params={"result": "succeed"}, allow_redirects=False, timeout=5)
    target = back.headers["Location"].split("/portal", 1)[1]
    other = Fresh(browser.client.application)  # another browser: no portal session
    assert other.get(target).headers["Location"].endswith("/portal/signin")
    signed_in = other.sign_in(ids["f-admin"])
    assert signed_in.headers["Location"] == "/portal" + target
    assert "Gracias: se han pagado" in other.get(target).get_data(as_text=True)


def _contoso_opens_accept_hosted(dv, ids):
    """Contoso's contract goes through Authorize.Net with no card saved, INV-0001 is due; Fiona picks
    "Pay with a new card" and is sent to the hosted payment page. Returns (browser, path, the page's form)."""
    import re

    from payments.base import HostedForm
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.wiring import integrations_for
    from shared.config import get_settings

    dv.update("cspb_billingcontracts", ids["k-contoso"], {"cspb_paymentprovider": "authorizenet",
                                                          "cspb_paymenttoken": None})
    dv.update("invoices", ids["i-1"], {"cspb_balance": 1464.00, "cspb_paymentstatus": 1})
    browser = PortalBrowser(create_app(get_settings(), DataverseRepository(dv), mount="/portal",
                                       integrations=integrations_for(dv, get_settings())))
    browser.sign_in(ids["c-fin"])
    path = f"/invoices/{ids['i-1']}"
    attempt = re.search(r'name="attempt" value="([^"]+)"', browser.get(path).get_data(as_text=True)).group(1)
    page = browser.post(path + "/pay", {"attempt": attempt, "method": "new"}, token_from=path).get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)" id="hosted-form">', page).group(1)
    assert action.endswith("/payment/payment"), action  # Accept Hosted: pay and save at once, not Accept Customer
    form = HostedForm(action, "POST", {"token": re.search(r'name="token" value="([^"]+)"', page).group(1)})
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 1 and not row.get("cspb_processorpaymentid")  # recorded before the page
    return browser, path, form


def _contoso_pays_on_accept_hosted(dv, ids, zip_codes=("98004",)):
    """... and types 4111 on the hosted payment page. Returns (browser, path, the page's last answer)."""
    from tests.plugins.payments import type_anet_card

    browser, path, form = _contoso_opens_accept_hosted(dv, ids)
    for zip_code in zip_codes:
        done = type_anet_card(form, "4111111111111111", zip_code=zip_code)
    return browser, path, done


def test_authorizenet_pay_with_a_new_card_pays_and_saves_on_accept_hosted(portal_dv, authorizenet_hosted):
    dv, ids = portal_dv
    browser, path, done = _contoso_pays_on_accept_hosted(dv, ids, zip_codes=("46282", "98004"))
    assert done.status_code == 302
    back = done.headers["Location"].split("/portal", 1)[1]
    assert back.startswith(path + "?payment=pay-")  # the invoice they were paying
    page = browser.get(back).get_data(as_text=True)
    assert "Thank you: $1,464.00 was paid." in page, page
    history = page.split('id="payment-history"', 1)[1]
    assert "Paid" in history and "Failed" not in history
    assert _money_is_zero(dv.get("invoices", ids["i-1"])["cspb_balance"])
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    import re

    assert re.fullmatch(r"\d+/\d+", dv.get("cspb_billingcontracts", ids["k-contoso"])["cspb_paymenttoken"] or "")
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 2 and row["cspb_processorpaymentid"].isdigit()


def test_a_charge_under_a_payment_page_attempt_key_takes_nothing(portal_dv, authorizenet_hosted):
    """The payment page is open for an attempt; a charge of the saved card under that attempt's key (a
    crafted form, a retried job) must not take money, or the customer's payment on the page would come on
    top: the attempt stays the page's, and the page's payment is the one recorded, once."""
    from payments import hosted_payment
    from payments.service import charge_invoice
    from tests.plugins.payments import type_anet_card

    dv, ids = portal_dv
    dv.update("cspb_billingcontracts", ids["k-contoso"], {"cspb_paymentprovider": "authorizenet",
                                                          "cspb_paymenttoken": None})
    dv.update("invoices", ids["i-1"], {"cspb_balance": 1464.00, "cspb_paymentstatus": 1})
    form = hosted_payment.start(ids["i-1"], "portal-crafted-h", cancel_url="http://127.0.0.1/back", dv=dv)
    assert form is not None
    outcome = charge_invoice(ids["i-1"], purpose="portal-crafted-h", dv=dv)
    assert outcome.status == "pending" and outcome.replayed
    assert authorizenet_hosted.sandbox.transactions == []
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 1 and row["cspb_error"] == hosted_payment.WAITING
    assert type_anet_card(form, "4111111111111111").status_code == 302
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    (paid,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert paid["cspb_status"] == 2
    assert len([t for t in authorizenet_hosted.sandbox.transactions if t["status"] != "declined"]) == 1


def test_accept_hosted_payment_is_settled_by_the_webhook_when_the_customer_never_returns(portal_dv,
                                                                                        authorizenet_hosted):
    dv, ids = portal_dv
    _browser, _path, done = _contoso_pays_on_accept_hosted(dv, ids)
    assert done.status_code == 302  # ... and the customer closes the tab
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    assert all(d.status == 200 for d in authorizenet_hosted.sandbox.webhooks.deliveries)
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 2 and row["cspb_processorpaymentid"].isdigit()
    assert _money_is_zero(dv.get("invoices", ids["i-1"])["cspb_balance"])


def test_accept_hosted_return_alone_records_the_payment_and_the_card(portal_dv, authorizenet_server, monkeypatch):
    """No webhook registered: the invoice page finds the transaction by our key and reads it back."""
    import re

    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_AUTHORIZENET_URL", authorizenet_server.url + "/xml/v1/request.api")
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "3")
    reset_settings()
    dv, ids = portal_dv
    browser, path, done = _contoso_pays_on_accept_hosted(dv, ids)
    page = browser.get(done.headers["Location"].split("/portal", 1)[1]).get_data(as_text=True)
    assert "Thank you: $1,464.00 was paid." in page, page
    assert _money_is_zero(dv.get("invoices", ids["i-1"])["cspb_balance"])
    assert re.fullmatch(r"\d+/\d+", dv.get("cspb_billingcontracts", ids["k-contoso"])["cspb_paymenttoken"] or "")
    again = browser.get(done.headers["Location"].split("/portal", 1)[1]).get_data(as_text=True)
    assert "Thank you: $1,464.00 was paid." in again  # a reload reads, never pays again
    assert len([t for t in authorizenet_server.app.sandbox.transactions if t["status"] != "declined"]) == 1


def _history(browser, path) -> str:
    return browser.get(path).get_data(as_text=True).split('id="payment-history"', 1)[1]


def test_an_accept_hosted_page_left_unpaid_expires_at_the_sweep_and_takes_nothing(portal_dv, authorizenet_hosted):
    """Fiona opens the payment page and walks away. While the page token lives (15 minutes) the attempt is
    Pending; after it, `pay settle`'s sweep finds no transaction under our key and marks it Expired: the
    invoice is still due in full and not marked failed, and the portal shows it expired, not pending."""
    from datetime import UTC, datetime, timedelta

    from payments.service import settle_held

    dv, ids = portal_dv
    browser, path, _form = _contoso_opens_accept_hosted(dv, ids)
    assert "Pendiente" in _history(browser, path) or "Pending" in _history(browser, path)
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert settle_held(dv=dv, now=soon) == []  # the page may still be in use: left to its webhook or return
    later = datetime.now(UTC) + timedelta(minutes=16)
    [swept] = settle_held(dv=dv, now=later)
    assert swept["status"] == "expired" and swept["invoice"] == dv.get("invoices", ids["i-1"])["invoicenumber"]
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 4 and not row.get("cspb_processorpaymentid") and "Nothing was charged" in row["cspb_error"]
    invoice = dv.get("invoices", ids["i-1"])
    assert str(invoice["cspb_balance"]).startswith("1464") and invoice["cspb_paymentstatus"] == 1  # due, not failed
    assert authorizenet_hosted.sandbox.transactions == []
    history = _history(browser, path)
    assert "Expired" in history and "Pending" not in history and "Nothing was charged" in history
    assert settle_held(dv=dv, now=later) == []  # decided: the next sweep leaves it alone
    assert 'id="pay-new-card"' in browser.get(path).get_data(as_text=True)  # a new attempt can start


def test_an_expired_accept_hosted_attempt_the_customer_paid_after_all_is_settled(portal_dv, authorizenet_hosted,
                                                                                monkeypatch):
    """The attempt expires at the next read (the invoice page, lifetime set to 60 ms), but the customer
    was still on the page and pays: the webhook finds the expired attempt by our key and records the
    payment. Settlement wins; the money is neither lost nor taken twice."""
    from shared.config import reset_settings
    from tests.plugins.payments import type_anet_card

    dv, ids = portal_dv
    browser, path, form = _contoso_opens_accept_hosted(dv, ids)
    monkeypatch.setenv("CSPB_AUTHORIZENET_PAGE_MINUTES", "0.001")
    reset_settings()
    history = _history(browser, path)
    assert "Expired" in history and "Pending" not in history  # expired at this read
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 4
    done = type_anet_card(form, "4111111111111111")
    assert done.status_code == 302
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    assert all(d.status == 200 for d in authorizenet_hosted.sandbox.webhooks.deliveries)
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 2 and row["cspb_processorpaymentid"].isdigit()
    assert _money_is_zero(dv.get("invoices", ids["i-1"])["cspb_balance"])
    page = browser.get(done.headers["Location"].split("/portal", 1)[1]).get_data(as_text=True)
    assert "Thank you: $1,464.00 was paid." in page, page
    assert "Expired" not in page.split('id="payment-history"', 1)[1]
    assert len([t for t in authorizenet_hosted.sandbox.transactions if t["status"] != "declined"]) == 1


def test_the_customer_returning_from_an_unpaid_page_after_it_expired_sees_it_expired(portal_dv, authorizenet_server,
                                                                                     monkeypatch):
    """No webhook: the return to the invoice (naming the attempt) after the page's lifetime finds no
    transaction, expires the attempt and says so; nothing was taken and the invoice can be paid again."""
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_AUTHORIZENET_URL", authorizenet_server.url + "/xml/v1/request.api")
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "3")
    reset_settings()
    dv, ids = portal_dv
    browser, path, _form = _contoso_opens_accept_hosted(dv, ids)
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    back = f"{path}?payment={row['cspb_paymentkey']}"
    assert "The payment is being processed" in browser.get(back).get_data(as_text=True)  # still within the page's life
    monkeypatch.setenv("CSPB_AUTHORIZENET_PAGE_MINUTES", "0.001")
    reset_settings()
    page = browser.get(back).get_data(as_text=True)
    assert "The payment page expired before a payment was made. Nothing was charged" in page, page
    assert 'id="pay-new-card"' in page
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['i-1']}")
    assert row["cspb_status"] == 4
    assert authorizenet_server.app.sandbox.transactions == []
