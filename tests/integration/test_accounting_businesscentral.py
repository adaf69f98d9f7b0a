"""Business Central target against its sandbox over real HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from accounting.base import (
    AccountingTarget,
    Customer,
    Invoice,
    JournalEntry,
    JournalLine,
    Payment,
)
from accounting.businesscentral import BusinessCentralTarget, bc_code
from sandbox.businesscentral.server import COMPANY_ID
from shared.errors import NotFoundError, RetriableError, ValidationError
from tests.plugins.distributors import accounting_invoice

pytestmark = pytest.mark.integration

CUSTOMER = Customer("0b7d3c1e-8f7a-4c43-9b1e-3c1f5d2a9e10", "Contoso Ltd", "ap@contoso.example", "USD")


def _invoice(number: str = "INV-0001") -> Invoice:
    return accounting_invoice(CUSTOMER, number)


@pytest.fixture
def bc(businesscentral_server, quick_retry) -> BusinessCentralTarget:
    return BusinessCentralTarget(businesscentral_server.url + "/api/v2.0", COMPANY_ID, "token", retry=quick_retry,
                                 timeout=5)


def test_invoice_is_posted_once(bc, businesscentral_server):
    assert isinstance(bc, AccountingTarget)
    first = bc.push_invoice(_invoice())
    assert bc.push_invoice(_invoice()) == first
    tables = businesscentral_server.app.sandbox.tables
    assert len(tables["salesInvoices"]) == 1 and tables["salesInvoices"][first]["status"] == "Open"
    assert tables["salesInvoices"][first]["totalAmountExcludingTax"] == 124.80
    assert len(tables["salesInvoiceLines"]) == 2
    assert next(iter(tables["customers"].values()))["number"] == bc_code(CUSTOMER.key)


def test_half_built_draft_is_completed(bc, businesscentral_server):
    # Posting fails after header and lines were written: the retry adds no duplicate lines and posts.
    businesscentral_server.app.faults.set(fail_every=1, path_contains="Microsoft.NAV.post")
    with pytest.raises(RetriableError):
        bc.push_invoice(_invoice("INV-0002"))
    businesscentral_server.app.faults.clear()
    invoice_id = bc.push_invoice(_invoice("INV-0002"))
    tables = businesscentral_server.app.sandbox.tables
    assert len([x for x in tables["salesInvoiceLines"].values() if x["documentId"] == invoice_id]) == 2
    assert tables["salesInvoices"][invoice_id]["status"] == "Open"


def test_customer_patch_uses_etag_and_survives_a_concurrent_edit(bc, businesscentral_server):
    cid = bc.upsert_customer(CUSTOMER)
    record = businesscentral_server.app.sandbox.tables["customers"][cid]
    record["@odata.etag"] = 'W/"changed-elsewhere"'
    assert bc.upsert_customer(Customer(CUSTOMER.key, "Contoso Ltd", "billing@contoso.example")) == cid
    assert record["email"] == "billing@contoso.example"


def test_payment_and_journal(bc, businesscentral_server):
    invoice_id = bc.push_invoice(_invoice())
    payment = Payment("pay-1", "INV-0001", CUSTOMER, Decimal("124.80"), date(2026, 3, 5), "USD")
    pid = bc.push_payment(payment, invoice_id)
    assert bc.push_payment(payment, invoice_id) == pid
    entry = JournalEntry("DR-2026-03-USD", date(2026, 3, 31), "USD", (
        JournalLine("2400", Decimal("40.00"), Decimal("0")), JournalLine("4000", Decimal("0"), Decimal("40.00"))))
    bc.push_journal(entry)
    bc.push_journal(entry)
    lines = businesscentral_server.app.sandbox.tables["journalLines"].values()
    assert sorted(x["amount"] for x in lines) == [-40.0, 40.0]


def test_errors_are_typed(bc, businesscentral_server, quick_retry):
    with pytest.raises(ValidationError):
        bc.push_journal(JournalEntry("DR-bad", date(2026, 3, 31), "USD", (
            JournalLine("9999", Decimal("1"), Decimal("0")), JournalLine("4000", Decimal("0"), Decimal("1")))))
    with pytest.raises(NotFoundError):
        BusinessCentralTarget(businesscentral_server.url + "/api/v2.0", "nope", "token",
                              retry=quick_retry).upsert_customer(CUSTOMER)


def test_settings_default_company_is_the_sandbox_company():
    from accounting.businesscentral import SANDBOX_COMPANY_ID

    assert SANDBOX_COMPANY_ID == COMPANY_ID
