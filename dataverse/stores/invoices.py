"""The posted invoice (invoice + invoicedetail) as the post-invoice jobs, payments, accounting and the
portal read it, and the status columns they write back on it (solution/TABLES.md).

The invoice's amount paid / balance / payment status are always written from a total the caller
recomputed from the succeeded payment rows (dataverse/stores/payments.py), never incremented, so
replays and out-of-order webhooks cannot drift them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.models import LineType, PaymentStatus
from billing.money import parse_decimal, round_money
from dataverse.client import DataverseClient
from dataverse.odata import literal
from dataverse.stores._rows import as_money, as_text
from dataverse.tables import AccountingStatus, EntitySet
from shared.dates import parse_date
from shared.errors import NotFoundError, ValidationError

ZERO = Decimal("0")
# SKU suffix of a line with no product (accounting systems want an item code on every line).
LINE_TYPE_NAMES = {LineType.LICENSE: "LICENSE", LineType.PRORATION: "PRORATION", LineType.CREDIT: "CREDIT",
                   LineType.USAGE: "USAGE", LineType.ONE_TIME: "ONETIME", LineType.MINIMUM_COMMITMENT: "MINCOMMIT"}
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def dec(value: Any) -> Decimal:
    return ZERO if value is None or value == "" else parse_decimal(value)


def _line_type_name(value: Any) -> str:
    return next((name for kind, name in LINE_TYPE_NAMES.items() if kind == value), "ITEM")


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class DocLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal
    sku: str
    line_type: int | None = None
    # What the invoice document prints beyond the amount: the service period, the line's net and
    # tax, and, for a converted line, the currency it was priced in with the rate and its month.
    period_start: date | None = None
    period_end: date | None = None
    net: Decimal | None = None
    tax: Decimal = ZERO
    tax_rate_pct: Decimal = ZERO
    tax_name: str = ""
    source_currency: str = ""
    exchange_rate: Decimal | None = None
    rate_month: str = ""


@dataclass(frozen=True)
class InvoiceDoc:
    id: str
    key: str
    number: str
    name: str
    account_id: str | None
    contract_id: str | None
    currency: str
    language: str
    total: Decimal
    amount_paid: Decimal
    balance: Decimal
    payment_status: int | None
    period_start: date | None
    period_end: date | None
    invoice_date: date
    lines: tuple[DocLine, ...]
    accounting_status: int | None = None
    send_status: str | None = None
    due_date: date | None = None

    @property
    def net_total(self) -> Decimal:
        return sum((ln.net if ln.net is not None else ln.amount - ln.tax for ln in self.lines), ZERO)

    @property
    def tax_total(self) -> Decimal:
        return sum((ln.tax for ln in self.lines), ZERO)

    def tax_breakdown(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """(tax name, rate %, taxable net, tax) per rate, sorted by rate; from the stored lines."""
        groups: dict[tuple[str, Decimal], list[Decimal]] = {}
        for ln in self.lines:
            row = groups.setdefault((ln.tax_name, ln.tax_rate_pct), [ZERO, ZERO])
            row[0] += ln.net if ln.net is not None else ln.amount - ln.tax
            row[1] += ln.tax
        return [(name, rate, net, tax) for (name, rate), (net, tax) in sorted(groups.items(), key=lambda kv: kv[0][1])]


def _doc_line(detail: dict[str, Any], sku: str, currency: str) -> DocLine:
    amount = detail.get("extendedamount")
    if amount is None:
        amount = dec(detail.get("baseamount")) - dec(detail.get("manualdiscountamount")) + dec(detail.get("tax"))
    net = dec(detail.get("baseamount")) - dec(detail.get("manualdiscountamount"))
    rate = detail.get("cspb_exchangerate")
    return DocLine(as_text(detail.get("productdescription") or detail.get("description") or sku),
                   dec(detail.get("quantity")), dec(detail.get("priceperunit")), round_money(dec(amount), currency), sku,
                   _optional_int(detail.get("cspb_linetype")), period_start=parse_date(detail.get("cspb_periodstart")),
                   period_end=parse_date(detail.get("cspb_periodend")), net=round_money(net, currency),
                   tax=round_money(dec(detail.get("tax")), currency), tax_rate_pct=dec(detail.get("cspb_taxratepct")),
                   tax_name=as_text(detail.get("cspb_taxname")), source_currency=as_text(detail.get("cspb_sourcecurrency")),
                   exchange_rate=dec(rate) if rate else None, rate_month=as_text(detail.get("cspb_ratemonth")))


def load_invoice(dv: DataverseClient, invoice_id: str) -> InvoiceDoc:
    row = dv.get(EntitySet.INVOICES, invoice_id)
    currency = as_text(row.get("cspb_currencycode")) or "USD"
    lines = []
    product_numbers: dict[str, str] = {}
    # Line-key order, as the portal lists them: row-id order is random, and the PDF and HTML must not
    # change between two renders of the same invoice.
    details = dv.list(EntitySet.INVOICE_DETAILS, filter=f"_invoiceid_value eq {invoice_id}")
    for detail in sorted(details, key=lambda d: as_text(d.get("cspb_linekey"))):
        product = detail.get("_productid_value")
        if product and product not in product_numbers:
            product_numbers[product] = as_text(dv.get(EntitySet.PRODUCTS, product,
                                                    select=["productnumber"]).get("productnumber"))
        sku = product_numbers.get(product or "", "") or f"CSPB-{_line_type_name(detail.get('cspb_linetype'))}"
        lines.append(_doc_line(detail, sku, currency))
    total = dec(row.get("totalamount")) if row.get("totalamount") is not None else sum(
        (line.amount for line in lines), ZERO)
    paid = dec(row.get("cspb_amountpaid"))
    start = parse_date(row.get("cspb_periodstart"))
    send_status = row.get("cspb_sendstatus")
    return InvoiceDoc(
        id=invoice_id, key=as_text(row.get("cspb_invoicekey")),
        number=as_text(row.get("invoicenumber") or row.get("name")), name=as_text(row.get("name")),
        account_id=row.get("_customerid_value"), contract_id=row.get("_cspb_billingcontract_value"),
        currency=currency, language=as_text(row.get("cspb_language")) or "en", total=total, amount_paid=paid,
        balance=dec(row["cspb_balance"]) if row.get("cspb_balance") is not None else total - paid,
        payment_status=_optional_int(row.get("cspb_paymentstatus")), period_start=start,
        period_end=parse_date(row.get("cspb_periodend")),
        invoice_date=parse_date(row.get("cspb_issuedate")) or start or parse_date(row.get("createdon")) or date.today(),
        lines=tuple(lines), accounting_status=_optional_int(row.get("cspb_accountingstatus")),
        send_status=None if send_status is None else str(send_status), due_date=parse_date(row.get("duedate")))


def set_payment_totals(dv: DataverseClient, invoice_id: str, *, paid: Decimal, balance: Decimal,
                       status: PaymentStatus) -> None:
    dv.update(EntitySet.INVOICES, invoice_id, {"cspb_amountpaid": str(paid), "cspb_balance": str(balance),
                                               "cspb_paymentstatus": int(status)})


def set_send_status(dv: DataverseClient, invoice_id: str, status: str) -> None:
    dv.update(EntitySet.INVOICES, invoice_id, {"cspb_sendstatus": status})


def set_accounting_status(dv: DataverseClient, invoice_id: str, status: AccountingStatus,
                          error: str | None = None) -> None:
    dv.update(EntitySet.INVOICES, invoice_id, {"cspb_accountingstatus": int(status), "cspb_accountingerror": error})


def not_synced_ids(dv: DataverseClient) -> list[str]:
    """Invoices the accounting export has not synced yet, including earlier failures."""
    return [str(row["invoiceid"]) for row in dv.list(
        EntitySet.INVOICES, select=["invoiceid"],
        filter=f"cspb_accountingstatus ne {int(AccountingStatus.SYNCED)} or cspb_accountingstatus eq null")]


def all_ids(dv: DataverseClient) -> list[str]:
    return [str(row["invoiceid"]) for row in dv.list(EntitySet.INVOICES, select=["invoiceid"],
                                                      orderby="invoicenumber,invoiceid")]


def post_invoice_pending_ids(dv: DataverseClient) -> list[str]:
    """Invoices with a post-invoice job still to do: not sent, not paid, or not synced."""
    flt = ("cspb_sendstatus eq null or cspb_paymentstatus eq 1 or cspb_paymentstatus eq null "
           "or cspb_accountingstatus ne 2 or cspb_accountingstatus eq null")
    return [str(row["invoiceid"]) for row in dv.list(EntitySet.INVOICES, select=["invoiceid"], filter=flt)]


def resolve_invoice_id(dv: DataverseClient, reference: str) -> str:
    """An invoice id from what a person types: the row's GUID or its invoice number."""
    ref = (reference or "").strip()
    if _GUID.match(ref):
        return ref
    rows = list(dv.list(EntitySet.INVOICES, select=["invoiceid"], filter=f"invoicenumber eq {literal(ref)}"))
    if len(rows) != 1:
        raise ValidationError(f"no invoice numbered {ref!r}" if not rows else f"{len(rows)} invoices are numbered {ref!r}")
    return str(rows[0]["invoiceid"])


# ---- the portal's view: a customer's invoices and what is still owed ----------------------------------

PORTAL_COLUMNS = ["invoiceid", "invoicenumber", "name", "_customerid_value", "totalamount", "cspb_balance",
                  "cspb_currencycode", "cspb_periodstart", "cspb_periodend", "cspb_paymentstatus", "cspb_language"]
PORTAL_LINE_COLUMNS = ["productdescription", "quantity", "priceperunit", "extendedamount", "cspb_linekey"]


@dataclass(frozen=True)
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    id: str
    account_id: str
    number: str
    currency: str
    total: Decimal
    balance: Decimal
    period_start: date | None = None
    period_end: date | None = None
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    language: str = "en"
    lines: tuple[InvoiceLine, ...] = ()


def portal_invoice_from_row(row: Mapping[str, Any], lines: tuple[InvoiceLine, ...] = ()) -> Invoice:
    return Invoice(
        id=str(row["invoiceid"]), account_id=as_text(row.get("_customerid_value")),
        number=as_text(row.get("invoicenumber") or row.get("name")), currency=as_text(row.get("cspb_currencycode")) or "USD",
        total=as_money(row.get("totalamount")), balance=as_money(row.get("cspb_balance")),
        period_start=parse_date(row.get("cspb_periodstart")), period_end=parse_date(row.get("cspb_periodend")),
        payment_status=PaymentStatus(int(row.get("cspb_paymentstatus") or PaymentStatus.UNPAID)),
        language=as_text(row.get("cspb_language")) or "en", lines=lines,
    )


def portal_lines_from_rows(rows: Iterable[Mapping[str, Any]]) -> tuple[InvoiceLine, ...]:
    """In the order the billing run wrote them (by line key)."""
    return tuple(InvoiceLine(as_text(d.get("productdescription")), as_money(d.get("quantity")),
                             as_money(d.get("priceperunit")), as_money(d.get("extendedamount")))
                 for d in sorted(rows, key=lambda d: as_text(d.get("cspb_linekey"))))


def sort_newest_first(found: Iterable[Invoice]) -> list[Invoice]:
    return sorted(found, key=lambda i: (i.period_start or date.min, i.number), reverse=True)


def for_customer(dv: DataverseClient, account_id: str) -> list[Invoice]:
    """Newest period first."""
    rows = dv.list(EntitySet.INVOICES, select=PORTAL_COLUMNS, filter=f"_customerid_value eq {account_id}")
    return sort_newest_first(portal_invoice_from_row(r) for r in rows)


def get_for_customer(dv: DataverseClient, account_id: str, invoice_id: str) -> Invoice | None:
    """The invoice with its lines, or None when it does not exist or is another customer's."""
    try:
        row = dv.get(EntitySet.INVOICES, invoice_id, select=PORTAL_COLUMNS)
    except NotFoundError:
        return None
    if row.get("_customerid_value") != account_id:
        return None
    details = dv.list(EntitySet.INVOICE_DETAILS, filter=f"_invoiceid_value eq {invoice_id}", select=PORTAL_LINE_COLUMNS)
    return portal_invoice_from_row(row, portal_lines_from_rows(details))
