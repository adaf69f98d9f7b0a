"""The accounting port and its DTOs. Targets (QuickBooks Online, Business Central) make every
push idempotent on our own document number, so a retried export never books twice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Protocol, runtime_checkable

# Default chart of accounts used for the deferred revenue journal; partners map their own.
DEFERRED_REVENUE_ACCOUNT = "2400"
REVENUE_ACCOUNT = "4000"


@dataclass(frozen=True)
class Customer:
    key: str  # our account id / number; the target's customer number
    name: str
    email: str = ""
    currency: str = "USD"


@dataclass(frozen=True)
class Item:
    sku: str  # item number = our product number (productId:skuId)
    name: str
    unit_price: Decimal = Decimal("0")


@dataclass(frozen=True)
class InvoiceLine:
    sku: str
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # the line's extended amount; the invoice total is their sum


@dataclass(frozen=True)
class Invoice:
    number: str  # our invoice number -> DocNumber / externalDocumentNumber
    customer: Customer
    invoice_date: date
    currency: str
    lines: tuple[InvoiceLine, ...]
    due_date: date | None = None

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0"))


@dataclass(frozen=True)
class Payment:
    key: str  # our payment key (idempotency key)
    invoice_number: str
    customer: Customer
    amount: Decimal
    paid_on: date
    currency: str


@dataclass(frozen=True)
class JournalLine:
    account: str
    debit: Decimal
    credit: Decimal
    description: str = ""


@dataclass(frozen=True)
class JournalEntry:
    key: str  # e.g. "DR-2026-03-USD"
    posting_date: date
    currency: str
    lines: tuple[JournalLine, ...]

    def balanced(self) -> bool:
        return sum(line.debit for line in self.lines) == sum(line.credit for line in self.lines)


@runtime_checkable
class AccountingTarget(Protocol):
    name: str  # "quickbooks" | "businesscentral"

    def upsert_customer(self, customer: Customer) -> str: ...

    def upsert_item(self, item: Item) -> str: ...

    def push_invoice(self, invoice: Invoice) -> str: ...

    def push_payment(self, payment: Payment, invoice_ref: str) -> str: ...

    def push_journal(self, entry: JournalEntry) -> str: ...


def money_json(amount: Decimal) -> float:
    """JSON number for an already-rounded amount (2 dp values survive the float round trip)."""
    return float(amount)
