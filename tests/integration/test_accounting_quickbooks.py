"""QuickBooks Online target against its sandbox over real HTTP."""

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
from accounting.quickbooks import QuickBooksTarget
from shared.errors import AuthError, ValidationError
from tests.plugins.distributors import accounting_invoice

pytestmark = pytest.mark.integration

CONTOSO = Customer("acc-1", "Contoso Ltd", "ap@contoso.example", "USD")


def _invoice(number: str = "INV-0001") -> Invoice:
    return accounting_invoice(CONTOSO, number, due_date=date(2026, 3, 31))


@pytest.fixture
def qbo(quickbooks_server, quick_retry) -> QuickBooksTarget:
    return QuickBooksTarget(quickbooks_server.url, "realm-1", "token", retry=quick_retry, timeout=5)


def test_invoice_customer_items_and_payment(qbo, quickbooks_server):
    assert isinstance(qbo, AccountingTarget)
    invoice_id = qbo.push_invoice(_invoice())
    data = quickbooks_server.app.sandbox.data
    stored = data["Invoice"][invoice_id]
    assert stored["TotalAmt"] == 124.80 and stored["DocNumber"] == "INV-0001"
    assert {i["Name"] for i in data["Item"].values()} == {"CFQ7TTC0LH18:0001", "CFQ7TTC0LCHC:0002"}
    assert quickbooks_server.app.sandbox.minor_versions == {"75"}
    payment_id = qbo.push_payment(Payment("pay-inv1-auto", "INV-0001", CONTOSO, Decimal("24.80"),
                                          date(2026, 3, 2), "USD"), invoice_id)
    assert data["Payment"][payment_id]["TotalAmt"] == 24.80
    assert data["Invoice"][invoice_id]["Balance"] == 100.0


def test_pushing_twice_books_once(qbo, quickbooks_server):
    first = qbo.push_invoice(_invoice())
    assert qbo.push_invoice(_invoice()) == first
    assert len(quickbooks_server.app.sandbox.data["Invoice"]) == 1
    assert len(quickbooks_server.app.sandbox.data["Customer"]) == 1


def test_lost_response_is_replayed_by_requestid(quickbooks_server, quick_retry):
    qbo = QuickBooksTarget(quickbooks_server.url, "realm-1", "token", retry=quick_retry, timeout=0.5)
    qbo.upsert_customer(CONTOSO)
    quickbooks_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5, path_contains="/invoice",
                                     method="POST")
    qbo.push_invoice(_invoice("INV-0002"))
    assert quickbooks_server.app.faults.injected["timeout"] == 1
    assert len(quickbooks_server.app.sandbox.data["Invoice"]) == 1


def test_customer_update_uses_sync_token(qbo, quickbooks_server):
    cid = qbo.upsert_customer(CONTOSO)
    # Someone edits the customer in QuickBooks: our next update must read the new SyncToken.
    quickbooks_server.app.sandbox.data["Customer"][cid]["SyncToken"] = "7"
    assert qbo.upsert_customer(Customer("acc-1", "Contoso Ltd", "billing@contoso.example")) == cid
    stored = quickbooks_server.app.sandbox.data["Customer"][cid]
    assert stored["PrimaryEmailAddr"]["Address"] == "billing@contoso.example" and stored["SyncToken"] == "8"


def test_deferred_revenue_journal(qbo, quickbooks_server):
    entry = JournalEntry("DR-2026-03-USD", date(2026, 3, 31), "USD", (
        JournalLine("2400", Decimal("100.00"), Decimal("0"), "release"),
        JournalLine("4000", Decimal("0"), Decimal("100.00"), "release")))
    jid = qbo.push_journal(entry)
    assert qbo.push_journal(entry) == jid
    with pytest.raises(ValidationError):
        qbo.push_journal(JournalEntry("DR-bad", date(2026, 3, 31), "USD", (
            JournalLine("2400", Decimal("1"), Decimal("0")),)))
    with pytest.raises(ValidationError):
        qbo.push_journal(JournalEntry("DR-x", date(2026, 3, 31), "USD", (
            JournalLine("9999", Decimal("1"), Decimal("0")), JournalLine("4000", Decimal("0"), Decimal("1")))))


def test_faults_are_typed(quickbooks_server, quick_retry, qbo):
    with pytest.raises(ValidationError):
        qbo._post("Invoice", {"CustomerRef": {"value": "nope"}, "Line": []})
    quickbooks_server.app.faults.set(throttle_every=2, retry_after_seconds=0)
    assert qbo.upsert_customer(CONTOSO)
    quickbooks_server.app.sandbox.expected_token = "token"
    with pytest.raises(AuthError):
        QuickBooksTarget(quickbooks_server.url, "realm-1", "expired", retry=quick_retry).upsert_customer(CONTOSO)
