"""Accounting export and post-invoice jobs against the Dataverse, Stripe, QuickBooks and
Business Central sandboxes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from accounting import service
from accounting.businesscentral import BusinessCentralTarget
from accounting.post_invoice import run_pending, run_post_invoice_jobs
from accounting.quickbooks import QuickBooksTarget
from payments.stripe_adapter import StripeProcessor
from sandbox.businesscentral.server import COMPANY_ID
from shared.blobstore import LocalBlobStore

pytestmark = pytest.mark.integration


@pytest.fixture
def qbo(quickbooks_server, quick_retry) -> QuickBooksTarget:
    return QuickBooksTarget(quickbooks_server.url, "realm", "token", retry=quick_retry, timeout=5)


@pytest.fixture
def stripe(stripe_server, quick_retry) -> StripeProcessor:
    return StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5)


def test_export_marks_synced_and_failed_then_retries(dv, seed_invoice, qbo, quickbooks_server):
    good = seed_invoice()
    bad = seed_invoice()
    # A 22-character invoice number is refused by QuickBooks' DocNumber limit.
    dv.update("invoices", bad["invoice"], {"invoicenumber": "INV-THIS-IS-TOO-LONG-1"})
    report = service.export_invoices(target=qbo, dv=dv)
    assert report.synced == [good["invoice"]] and bad["invoice"] in report.failed
    assert dv.get("invoices", good["invoice"])["cspb_accountingstatus"] == 2
    failed = dv.get("invoices", bad["invoice"])
    assert failed["cspb_accountingstatus"] == 3 and "21 characters" in failed["cspb_accountingerror"]
    dv.update("invoices", bad["invoice"], {"invoicenumber": "INV-FIXED"})
    again = service.export_invoices(target=qbo, dv=dv)
    assert again.synced == [bad["invoice"]] and not again.failed
    assert len(quickbooks_server.app.sandbox.data["Invoice"]) == 2


def test_export_to_business_central(dv, seed_invoice, businesscentral_server, quick_retry):
    ids = seed_invoice()
    bc = BusinessCentralTarget(businesscentral_server.url + "/api/v2.0", COMPANY_ID, "t", retry=quick_retry)
    assert service.export_invoices([ids["invoice"]], target=bc, dv=dv).synced == [ids["invoice"]]
    invoices = businesscentral_server.app.sandbox.tables["salesInvoices"]
    assert [i["externalDocumentNumber"] for i in invoices.values()] == [dv.get("invoices", ids["invoice"])["invoicenumber"]]


# A day that is never the machine's: the run's day is what is stamped, whatever the clock says.
RUN_DAY = date(2026, 3, 31)


def test_post_invoice_jobs_send_charge_and_sync(dv, seed_invoice, stripe, qbo, quickbooks_server, tmp_path):
    token = stripe.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "seed").token()
    ids = seed_invoice(token=token, language="es")
    store = LocalBlobStore(tmp_path / "outbox")
    outcomes = run_post_invoice_jobs(ids["invoice"], today=RUN_DAY, dv=dv, processor=stripe, target=qbo, store=store)
    assert outcomes["send"].startswith("Queued to ann") and outcomes["send"].endswith(" on 2026-03-31")
    assert outcomes["charge"].startswith("succeeded 124.80 USD")
    assert outcomes["accounting"] == "synced to quickbooks"
    html = store.get(next(p for p in store.list("outbox/invoices/") if p.endswith(".html"))).decode()
    assert "Factura" in html and "124,80" in html
    pdf = store.get(next(p for p in store.list("outbox/invoices/") if p.endswith(".pdf")))
    assert pdf.startswith(b"%PDF-") and b"application/pdf" not in pdf
    envelope = json.loads(store.get(next(p for p in store.list("outbox/invoices/") if p.endswith(".json"))))
    assert envelope["attachments"] == [p for p in store.list("outbox/invoices/") if p.endswith(".pdf")]
    invoice = dv.get("invoices", ids["invoice"])
    assert invoice["cspb_paymentstatus"] == 3 and invoice["cspb_accountingstatus"] == 2
    assert invoice["cspb_sendstatus"].endswith(" on 2026-03-31")
    [payment] = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['invoice']}", select=["cspb_paidon"])
    assert payment["cspb_paidon"].startswith("2026-03-31")
    # The payment went to QuickBooks with the invoice, dated the run's day.
    [qbo_payment] = quickbooks_server.app.sandbox.data["Payment"].values()
    assert qbo_payment["TxnDate"] == "2026-03-31"
    # Running again (on a later day) changes nothing.
    again = run_post_invoice_jobs(ids["invoice"], today=date(2026, 4, 1), dv=dv, processor=stripe, target=qbo,
                                  store=store)
    assert again == {"send": "already sent", "charge": "succeeded 124.80 USD already charged",
                     "accounting": "already synced"}


def test_send_needs_a_billing_contact(dv, seed_invoice, tmp_path, stripe, qbo):
    ids = seed_invoice(contact=False, autocharge=False, autosync=False)
    outcomes = run_pending(RUN_DAY, dv=dv, processor=stripe, target=qbo, store=LocalBlobStore(tmp_path))
    assert outcomes[ids["invoice"]]["send"].startswith("Failed: the contract has no primary billing contact")
    assert "primary billing contact" in dv.get("invoices", ids["invoice"])["cspb_sendstatus"]


def test_deferred_revenue_journal_push_and_file(dv, seed_invoice, qbo, quickbooks_server):
    ids = seed_invoice()
    for n, (currency, amount) in enumerate((("USD", "40.00"), ("USD", "10.00"), ("EUR", "5.00"))):
        dv.upsert("cspb_revenueschedules", {"cspb_schedulekey": f"k{n}|2026-03"}, {
            "cspb_name": f"k{n}", "cspb_invoice@odata.bind": f"/invoices({ids['invoice']})", "cspb_month": "2026-03",
            "cspb_amount": amount, "cspb_currencycode": currency, "cspb_exported": False})
    text = service.export_deferred_revenue("2026-03", target=None, dv=dv, fmt="csv").decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["entry"], r["account"], r["debit"], r["credit"]) for r in rows} >= {
        ("DR-2026-03-USD", "2400", "50.00", "0"), ("DR-2026-03-USD", "4000", "0", "50.00")}
    assert json.loads(service.export_deferred_revenue("2026-03", target=None, dv=dv, fmt="json"))["rows"]
    pushed = service.export_deferred_revenue("2026-03", target=qbo, dv=dv)
    assert pushed and len(quickbooks_server.app.sandbox.data["JournalEntry"]) == 2
    # Exported rows are not pushed again.
    assert service.export_deferred_revenue("2026-03", target=qbo, dv=dv) == []
    assert sum(Decimal(str(r["cspb_amount"])) for r in dv.list("cspb_revenueschedules")
               if r["cspb_exported"]) == Decimal("55.00")


def test_master_data_export(dv, seed_invoice, qbo, quickbooks_server):
    seed_invoice()
    counts = service.export_master_data(target=qbo, dv=dv)
    assert counts == {"customers": 1, "items": 2}
    assert service.export_master_data(target=qbo, dv=dv) == counts
    assert len(quickbooks_server.app.sandbox.data["Item"]) == 2
