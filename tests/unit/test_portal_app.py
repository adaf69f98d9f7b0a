import re
from datetime import UTC, datetime, timedelta

import pytest

from portal.models import ChangeOrigin, ChangeType, ProvisioningStatus


def test_signin_required_and_sandbox_signin(portal_browser):
    r = portal_browser.get("/subscriptions")
    assert r.status_code == 302 and r.headers["Location"].endswith("/portal/signin")
    page = portal_browser.get("/signin").get_data(as_text=True)
    assert "Ada Admin" in page and "Fabio Garcia" in page
    r = portal_browser.sign_in("c-admin")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/portal/" in cookie
    assert "Secure" not in cookie  # loopback over plain HTTP
    assert "Microsoft 365 Business Premium" in portal_browser.get("/subscriptions").get_data(as_text=True)


def test_cookie_is_secure_outside_loopback(portal_app):
    from werkzeug.test import Client

    client = Client(portal_app)
    r = client.get("/portal/signin", base_url="https://portal.partner.example")
    assert "Secure" in r.headers["Set-Cookie"]


def test_post_without_csrf_token_is_refused(portal_browser):
    portal_browser.sign_in("c-admin")
    r = portal_browser.client.post("/portal/subscriptions/s-m365/seats", data={"quantity": "12"})
    assert r.status_code == 400
    r = portal_browser.post("/subscriptions/s-m365/seats", {"quantity": "12", "csrf_token": "forged"})
    assert r.status_code == 400


def test_tampered_session_cookie_signs_out(portal_browser):
    portal_browser.sign_in("c-admin")
    cookie = portal_browser.client.get_cookie("cspb_portal", path="/portal/")
    body, _, sig = cookie.value.rpartition(".")
    portal_browser.client.set_cookie("cspb_portal", body + "x." + sig, path="/portal/")
    assert portal_browser.get("/subscriptions").status_code == 302


@pytest.mark.parametrize("path", ["/subscriptions/s-fab", "/invoices/i-fab", "/invoices/i-fab/download",
                                  "/shop?contract=k-fabrikam"])
def test_another_customers_ids_are_404(portal_browser, path):
    portal_browser.sign_in("c-admin")
    r = portal_browser.get(path)
    assert r.status_code == 404
    assert "Microsoft 365 E3" not in r.get_data(as_text=True)


def test_another_customers_subscription_cannot_be_changed(portal_browser, portal_repo):
    portal_browser.sign_in("c-admin")
    r = portal_browser.post("/subscriptions/s-fab/seats", {"quantity": "41"})
    assert r.status_code == 404
    assert portal_repo.changes == {}


@pytest.mark.parametrize("contact,allowed,forbidden", [
    ("c-subs", ["/subscriptions", "/shop", "/guides", "/guides/seats"],
     ["/invoices", "/payment", "/agreement", "/admin/assessment"]),
    ("c-fin", ["/invoices", "/payment", "/guides", "/guides/billing"], ["/subscriptions", "/shop", "/agreement"]),
    ("c-admin", ["/subscriptions", "/invoices", "/payment", "/agreement", "/guides", "/shop"], ["/admin/assessment"]),
])
def test_roles(portal_browser, contact, allowed, forbidden):
    portal_browser.sign_in(contact)
    for path in allowed:
        assert portal_browser.get(path).status_code == 200, path
    for path in forbidden:
        assert portal_browser.get(path).status_code == 403, path


def test_seat_increase_creates_portal_change_log_and_shows_status(portal_browser, portal_repo):
    portal_browser.sign_in("c-subs")
    r = portal_browser.post("/subscriptions/s-teams/seats", {"quantity": "30"})
    assert r.status_code == 302
    (change,) = portal_repo.changes.values()
    assert (change.change_type, change.old_quantity, change.new_quantity) == (ChangeType.INCREASE, 25, 30)
    assert change.origin is ChangeOrigin.PORTAL and change.status is ProvisioningStatus.AWAITING
    page = portal_browser.get("/subscriptions/s-teams").get_data(as_text=True)
    assert "Seat change from 25 to 30 requested" in page and "Awaiting" in page
    # a second change while the first is in flight is refused
    portal_browser.post("/subscriptions/s-teams/seats", {"quantity": "31"})
    assert len(portal_repo.changes) == 1
    portal_repo.set_change_status(change.id, ProvisioningStatus.PROVISIONED)
    assert "Provisioned" in portal_browser.get("/subscriptions/s-teams").get_data(as_text=True)


@pytest.mark.parametrize("quantity,message", [
    ("0", "at least 1"), ("-3", "at least 1"), ("abc", "whole number"), ("2.5", "whole number"),
    ("25", "already has 25"), ("20", "within 7 days"),
])
def test_seat_change_refusals(portal_browser, portal_repo, quantity, message):
    portal_browser.sign_in("c-subs")
    portal_browser.post("/subscriptions/s-teams/seats", {"quantity": quantity})
    assert message in portal_browser.get("/subscriptions/s-teams").get_data(as_text=True)
    assert portal_repo.changes == {}


def test_reduction_inside_window_is_allowed(portal_browser, portal_repo):
    portal_browser.sign_in("c-admin")
    portal_browser.post("/subscriptions/s-m365/seats", {"quantity": "8"})
    (change,) = portal_repo.changes.values()
    assert change.change_type is ChangeType.DECREASE and change.new_quantity == 8


def test_no_cancel_offered(portal_browser):
    portal_browser.sign_in("c-admin")
    page = portal_browser.get("/subscriptions/s-m365").get_data(as_text=True).lower()
    assert "cancel" not in re.sub(r"<[^>]+>", " ", page).replace("cannot be cancelled", "")


def test_mca_acceptance_calls_sync_and_unblocks_buying(portal_browser, portal_repo, portal_fakes):
    portal_browser.sign_in("c-admin")
    portal_browser.post("/shop/buy", {"contract_id": "k-contoso", "offer": "p-visio:u-p1y-monthly", "quantity": "2"})
    assert "Customer Agreement" in portal_browser.get("/shop").get_data(as_text=True)
    assert portal_repo.changes == {}
    portal_browser.post("/agreement", {})  # box not ticked
    assert portal_fakes.calls == []
    portal_browser.post("/agreement", {"accept": "yes"})
    assert portal_fakes.calls[0][0] == "attest" and portal_fakes.calls[0][2]["contact_id"] == "c-admin"
    assert "Accepted on" in portal_browser.get("/agreement").get_data(as_text=True)
    r = portal_browser.post("/shop/buy", {"contract_id": "k-contoso", "offer": "p-visio:u-p1y-monthly",
                                          "quantity": "2"})
    (change,) = portal_repo.changes.values()
    assert change.change_type is ChangeType.NEW and change.new_quantity == 2
    sub = portal_repo.subscriptions[change.subscription_id]
    assert (sub.term, sub.billing_frequency, sub.name) == ("P1Y", "P1M", "Visio Plan 2")
    assert r.headers["Location"].endswith(f"/portal/subscriptions/{sub.id}")


def test_buy_quantity_zero_refused(portal_browser, portal_repo):
    portal_repo.record_attestation("acc-contoso", "c-admin")
    portal_browser.sign_in("c-admin")
    portal_browser.post("/shop/buy", {"contract_id": "k-contoso", "offer": "p-visio:u-p1y-monthly", "quantity": "0"})
    assert portal_repo.changes == {}


def test_invoice_view_and_download(portal_browser):
    portal_browser.sign_in("c-fin")
    page = portal_browser.get("/invoices/i-1").get_data(as_text=True)
    assert "$1,464.00" in page and "Microsoft Teams Essentials" in page
    r = portal_browser.get("/invoices/i-1/download")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="INV-0001.pdf"'
    assert r.get_data().startswith(b"%PDF-")
    r = portal_browser.get("/invoices/i-1/download?format=html")
    assert r.headers["Content-Disposition"] == 'attachment; filename="INV-0001.html"'


def test_payment_link_flow(portal_browser, portal_fakes):
    portal_browser.sign_in("c-fin")
    r = portal_browser.post("/payment/k-contoso/link", token_from="/payment")
    assert r.status_code == 302 and "/portal/pay/tok-k-contoso-0" in r.headers["Location"]
    page = portal_browser.get("/pay/tok-k-contoso-0").get_data(as_text=True)
    # the customer never sees or types a token: a button to the processor's hosted card page
    assert 'id="continue-to-card"' in page and "<input type=\"text\"" not in page and "pm_card" not in page
    r = portal_browser.post("/pay/tok-k-contoso-0", token_from="/pay/tok-k-contoso-0")
    assert r.status_code == 303 and r.headers["Location"] == "https://processor.example/c/pay/cs_tok-k-contoso-0"
    (_name, (_token, success_url, cancel_url), _kw) = portal_fakes.calls[-1]
    assert success_url == "http://127.0.0.1:7071/portal/pay/tok-k-contoso-0/done?session_id={CHECKOUT_SESSION_ID}"
    assert cancel_url.endswith("/portal/pay/tok-k-contoso-0?cancelled=1")
    assert "left the card page" in portal_browser.get("/pay/tok-k-contoso-0?cancelled=1").get_data(as_text=True)
    r = portal_browser.get("/pay/tok-k-contoso-0/done?session_id=cs_tok-k-contoso-0")
    assert r.status_code == 200 and "Visa card ending in 4242 is saved" in r.get_data(as_text=True)
    r = portal_browser.get("/pay/tok-k-contoso-0/done?session_id=cs_tok-k-contoso-0")
    assert r.status_code == 400  # single use
    assert portal_browser.post("/payment/k-fabrikam/link", token_from="/payment").status_code == 404


def test_spanish_pages_and_formats(portal_browser):
    portal_browser.get("/lang/es?next=/portal/signin")
    portal_browser.sign_in("f-admin")
    page = portal_browser.get("/subscriptions/s-fab").get_data(as_text=True)
    assert 'lang="es"' in page and "Licencias" in page and "35,70" in page and "€" in page
    invoice = portal_browser.get("/invoices/i-fab/download?format=html").get_data(as_text=True)
    assert "Factura INV-0002" in invoice and "1.428,00" in invoice


def test_invoice_download_uses_invoice_language(portal_browser):
    portal_browser.get("/lang/es?next=/portal/signin")
    portal_browser.sign_in("c-fin")
    assert "Invoice INV-0001" in portal_browser.get("/invoices/i-1/download?format=html").get_data(as_text=True)


def test_language_switch_rejects_open_redirect(portal_browser):
    r = portal_browser.get("/lang/es?next=//evil.example/")
    assert r.headers["Location"].endswith("/portal/")


def test_guides_and_signout(portal_browser):
    portal_browser.sign_in("c-admin")
    assert "7 days" in portal_browser.get("/guides/seats").get_data(as_text=True)
    assert portal_browser.get("/guides/nope").status_code == 404
    portal_browser.post("/signout", {})
    assert portal_browser.get("/subscriptions").status_code == 302


def test_partner_staff_see_only_the_assessment(portal_browser):
    portal_browser.sign_in("__partner__")
    assert portal_browser.get("/admin/assessment").status_code == 200
    assert portal_browser.get("/subscriptions").status_code == 403


def test_static_and_health(portal_browser):
    assert portal_browser.get("/healthz").get_data(as_text=True) == "ok"
    assert portal_browser.get("/static/portal.css").status_code == 200
    assert portal_browser.get("/static/../app.py").status_code == 404


def test_seat_reduction_window_from_commitment_end(portal_repo, portal_browser):
    from dataclasses import replace

    now = datetime.now(UTC)
    # renewed 2 days ago: the commitment end is one term ahead of the renewal
    sub = portal_repo.subscriptions["s-teams"]
    portal_repo.subscriptions["s-teams"] = replace(sub, start_date=now - timedelta(days=800),
                                                   commitment_end=now - timedelta(days=2) + timedelta(days=365))
    portal_browser.sign_in("c-subs")
    portal_browser.post("/subscriptions/s-teams/seats", {"quantity": "20"})
    assert len(portal_repo.changes) == 1


def test_a_crash_renders_a_500_page_not_a_traceback(portal_browser, portal_repo, monkeypatch):
    def boom(account_id):
        raise RuntimeError("secret detail")

    portal_browser.sign_in("c-admin")
    monkeypatch.setattr(portal_repo, "list_subscriptions", boom)
    r = portal_browser.get("/subscriptions")
    assert r.status_code == 500 and "secret detail" not in r.get_data(as_text=True)


def test_customer_language_defaults_to_the_contract_language(portal_browser):
    portal_browser.sign_in("f-admin")  # Fabrikam's contract invoices in Spanish
    assert 'lang="es"' in portal_browser.get("/subscriptions").get_data(as_text=True)
    portal_browser.get("/lang/en?next=/portal/")
    assert 'lang="en"' in portal_browser.get("/subscriptions").get_data(as_text=True)
