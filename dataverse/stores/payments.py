"""cspb_payment rows: one per charge attempt, keyed by our payment key (the processor idempotency key), so
a retried or replayed attempt finds and updates its own row. An invoice's amount paid is the sum of its
succeeded rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse.client import DataverseClient
from dataverse.odata import any_of, bind, literal
from dataverse.stores._rows import as_text
from dataverse.tables import EntitySet
from dataverse.tables import PaymentStatus as PaymentRowStatus
from shared.dates import parse_date, parse_datetime

ZERO = Decimal("0")
KEY = "cspb_paymentkey"
COLUMNS = [KEY, "cspb_processor", "cspb_processorpaymentid", "cspb_amount", "cspb_currencycode", "cspb_status",
           "cspb_error", "cspb_paidon", "_cspb_invoice_value", "modifiedon"]


@dataclass(frozen=True)
class Payment:
    key: str
    invoice_id: str | None
    amount: Decimal
    processor: str = ""
    status: int | None = None  # PaymentRowStatus; kept as read so an unknown value is not an error
    processor_payment_id: str = ""
    error: str = ""
    currency: str = ""
    paid_on: date | None = None
    modified_on: date | None = None
    modified_at: datetime | None = None  # the row's last write: for a succeeded payment, when it settled

    @property
    def succeeded(self) -> bool:
        return self.status == PaymentRowStatus.SUCCEEDED

    @property
    def state(self) -> str:
        """succeeded | failed | expired | pending, for pages that show a payment's outcome."""
        if self.status == PaymentRowStatus.SUCCEEDED:
            return "succeeded"
        if self.status == PaymentRowStatus.EXPIRED:
            return "expired"
        return "failed" if self.status == PaymentRowStatus.FAILED else "pending"


def _payment(row: dict[str, Any]) -> Payment:
    amount = row.get("cspb_amount")
    status = row.get("cspb_status")
    invoice_id = row.get("_cspb_invoice_value")
    return Payment(key=as_text(row.get(KEY)), invoice_id=str(invoice_id) if invoice_id else None,
                   amount=ZERO if amount in (None, "") else parse_decimal(amount),
                   processor=as_text(row.get("cspb_processor")), status=None if status is None else int(status),
                   processor_payment_id=as_text(row.get("cspb_processorpaymentid")), error=as_text(row.get("cspb_error")),
                   currency=as_text(row.get("cspb_currencycode")), paid_on=parse_date(row.get("cspb_paidon"), strict=False),
                   modified_on=parse_date(row.get("modifiedon"), strict=False),
                   modified_at=parse_datetime(row.get("modifiedon"), strict=False))


def by_key(dv: DataverseClient, key: str) -> Payment | None:
    row = dv.get_by_key(EntitySet.PAYMENTS, {KEY: key})
    return None if row is None else _payment(row)


def by_processor_payment_id(dv: DataverseClient, processor_payment_id: str) -> Payment | None:
    rows = list(dv.list(EntitySet.PAYMENTS, filter=f"cspb_processorpaymentid eq {literal(processor_payment_id)}"))
    return _payment(rows[0]) if rows else None


def held(dv: DataverseClient) -> list[Payment]:
    """Pending payments the processor has taken but not decided (e.g. Authorize.Net's review)."""
    rows = dv.list(EntitySet.PAYMENTS, select=[KEY, "cspb_processor", "cspb_processorpaymentid", "cspb_amount",
                                               "_cspb_invoice_value"],
                   filter=f"cspb_status eq {int(PaymentRowStatus.PENDING)} and cspb_processorpaymentid ne null")
    return [_payment(r) for r in rows if r.get("cspb_processorpaymentid") and r.get("_cspb_invoice_value")]


def waiting(dv: DataverseClient, processor: str, *, expired_too: bool = False) -> list[Payment]:
    """Pending attempts of `processor` it has not answered with a reference yet (a hosted payment page the
    customer is on), so a transaction it reports can be matched to the attempt by our key. `expired_too`:
    also the ones expired since (the customer may still have paid on the page: settlement wins)."""
    statuses = [PaymentRowStatus.PENDING, *([PaymentRowStatus.EXPIRED] if expired_too else [])]
    rows = dv.list(EntitySet.PAYMENTS, select=COLUMNS,
                   filter=f"({any_of('cspb_status', [int(s) for s in statuses])}) and cspb_processorpaymentid eq null "
                          f"and cspb_processor eq {literal(processor)}")
    return [_payment(r) for r in rows if r.get("_cspb_invoice_value")]


def for_invoice(dv: DataverseClient, invoice_id: str) -> list[Payment]:
    """Every payment attempt on the invoice, oldest first (the portal's payment history)."""
    rows = dv.list(EntitySet.PAYMENTS, select=[*COLUMNS, "createdon"], filter=f"_cspb_invoice_value eq {invoice_id}")
    ordered = sorted(rows, key=lambda r: (str(r.get("createdon") or ""), str(r.get(KEY) or "")))
    return [_payment(r) for r in ordered]


def succeeded_for_invoice(dv: DataverseClient, invoice_id: str) -> list[Payment]:
    rows = dv.list(EntitySet.PAYMENTS, filter=f"_cspb_invoice_value eq {invoice_id}")
    return [p for p in (_payment(r) for r in rows) if p.succeeded]


def write(dv: DataverseClient, key: str, *, invoice_id: str, invoice_number: str, currency: str, amount: Decimal,
          processor: str, status: int, processor_payment_id: str = "", error: str = "",
          paid_on: date | None = None) -> None:
    record: dict[str, Any] = {
        "cspb_name": f"{invoice_number} {processor}"[:100], "cspb_invoice@odata.bind": bind(EntitySet.INVOICES, invoice_id),
        "cspb_amount": str(amount), "cspb_currencycode": currency, "cspb_processor": processor,
        "cspb_status": status, "cspb_processorpaymentid": processor_payment_id or None, "cspb_error": error or None}
    if paid_on:
        record["cspb_paidon"] = paid_on.isoformat() + "T00:00:00Z"
    dv.upsert(EntitySet.PAYMENTS, {KEY: key}, record)
