"""Reads and writes the Dataverse rows the post-invoice jobs work on (solution/TABLES.md):
invoice + invoicedetail, the billing contract, the account and its billing contact, and the
cspb_payment rows that make up an invoice's amount paid.

The invoice's cspb_amountpaid / cspb_balance / cspb_paymentstatus are always recomputed from the
succeeded cspb_payment rows, never incremented, so replays and out-of-order webhooks cannot
drift them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.models import LineType, PaymentStatus
from billing.money import parse_decimal, round_money
from dataverse.tables import AccountingStatus
from dataverse.tables import PaymentStatus as PaymentRowStatus
from shared.dates import parse_date
from shared.errors import ValidationError

ZERO = Decimal("0")
# Short names the payment and accounting jobs use for cspb_payment.cspb_status and invoice.cspb_accountingstatus.
PAYMENT_PENDING, PAYMENT_SUCCEEDED, PAYMENT_FAILED = (
    PaymentRowStatus.PENDING, PaymentRowStatus.SUCCEEDED, PaymentRowStatus.FAILED)
ACCOUNTING_NOT_SYNCED, ACCOUNTING_SYNCED, ACCOUNTING_FAILED = (
    AccountingStatus.NOT_SYNCED, AccountingStatus.SYNCED, AccountingStatus.FAILED)
# SKU suffix of a line with no product (accounting systems want an item code on every line).
LINE_TYPE_NAMES = {LineType.LICENSE: "LICENSE", LineType.PRORATION: "PRORATION", LineType.CREDIT: "CREDIT",
                   LineType.USAGE: "USAGE", LineType.ONE_TIME: "ONETIME", LineType.MINIMUM_COMMITMENT: "MINCOMMIT"}


def dec(value: Any) -> Decimal:
    return ZERO if value is None or value == "" else parse_decimal(value)


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
class Party:
    """Seller or customer as the invoice names them."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str = ""


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


def _date(value: Any) -> date | None:
    return parse_date(value)


def load_invoice(dv: Any, invoice_id: str) -> InvoiceDoc:
    row = dv.get("invoices", invoice_id)
    currency = row.get("cspb_currencycode") or "USD"
    lines = []
    product_numbers: dict[str, str] = {}
    for d in dv.list("invoicedetails", filter=f"_invoiceid_value eq {invoice_id}"):
        product = d.get("_productid_value")
        if product and product not in product_numbers:
            product_numbers[product] = dv.get("products", product, select=["productnumber"]).get("productnumber") or ""
        sku = product_numbers.get(product or "", "") or f"CSPB-{LINE_TYPE_NAMES.get(d.get('cspb_linetype'), 'ITEM')}"
        amount = d.get("extendedamount")
        if amount is None:
            amount = dec(d.get("baseamount")) - dec(d.get("manualdiscountamount")) + dec(d.get("tax"))
        net = dec(d.get("baseamount")) - dec(d.get("manualdiscountamount"))
        lines.append(DocLine(d.get("productdescription") or d.get("description") or sku, dec(d.get("quantity")),
                             dec(d.get("priceperunit")), round_money(dec(amount), currency), sku,
                             d.get("cspb_linetype"), period_start=_date(d.get("cspb_periodstart")),
                             period_end=_date(d.get("cspb_periodend")), net=round_money(net, currency),
                             tax=round_money(dec(d.get("tax")), currency), tax_rate_pct=dec(d.get("cspb_taxratepct")),
                             tax_name=d.get("cspb_taxname") or "", source_currency=d.get("cspb_sourcecurrency") or "",
                             exchange_rate=dec(d.get("cspb_exchangerate")) if d.get("cspb_exchangerate") else None,
                             rate_month=d.get("cspb_ratemonth") or ""))
    total = dec(row.get("totalamount")) if row.get("totalamount") is not None else sum(
        (line.amount for line in lines), ZERO)
    paid = dec(row.get("cspb_amountpaid"))
    start = _date(row.get("cspb_periodstart"))
    return InvoiceDoc(
        id=invoice_id, key=row.get("cspb_invoicekey") or "", number=row.get("invoicenumber") or row.get("name") or "",
        name=row.get("name") or "", account_id=row.get("_customerid_value"),
        contract_id=row.get("_cspb_billingcontract_value"), currency=currency, language=row.get("cspb_language") or "en",
        total=total, amount_paid=paid,
        balance=dec(row["cspb_balance"]) if row.get("cspb_balance") is not None else total - paid,
        payment_status=row.get("cspb_paymentstatus"), period_start=start, period_end=_date(row.get("cspb_periodend")),
        invoice_date=_date(row.get("cspb_issuedate")) or start or _date(row.get("createdon")) or date.today(),
        lines=tuple(lines),
        accounting_status=row.get("cspb_accountingstatus"), send_status=row.get("cspb_sendstatus"),
        due_date=_date(row.get("duedate")))


def load_contract(dv: Any, invoice: InvoiceDoc) -> dict[str, Any]:
    if not invoice.contract_id:
        raise ValidationError(f"invoice {invoice.number} has no billing contract")
    return dv.get("cspb_billingcontracts", invoice.contract_id)


ADDRESS_COLUMNS = ["address1_line1", "address1_line2", "address1_postalcode", "address1_city",
                   "address1_stateorprovince", "address1_country"]


def load_account(dv: Any, account_id: str | None) -> dict[str, Any]:
    if not account_id:
        raise ValidationError("the invoice has no customer account")
    return dv.get("accounts", account_id, select=["name", "emailaddress1", "accountid", "cspb_taxid", *ADDRESS_COLUMNS])


def customer_party(account: dict[str, Any]) -> Party:
    """The customer's legal name, billing address (the account's address 1) and tax id."""
    city = " ".join(x for x in (account.get("address1_postalcode"), account.get("address1_city")) if x)
    lines = [account.get("address1_line1"), account.get("address1_line2"), city,
             account.get("address1_stateorprovince"), account.get("address1_country")]
    return Party(account.get("name") or "", tuple(x for x in lines if x), account.get("cspb_taxid") or "")


def billing_contact(dv: Any, contract: dict[str, Any]) -> dict[str, Any] | None:
    contact_id = contract.get("_cspb_primarybillingcontact_value")
    if not contact_id:
        return None
    return dv.get("contacts", contact_id, select=["firstname", "lastname", "emailaddress1"])


def payment_row(dv: Any, key: str) -> dict[str, Any] | None:
    return dv.get_by_key("cspb_payments", {"cspb_paymentkey": key})


def held_payments(dv: Any) -> list[dict[str, Any]]:
    """Pending payments the processor has taken but not decided (e.g. Authorize.Net's review)."""
    rows = dv.list("cspb_payments", select=["cspb_paymentkey", "cspb_processor", "cspb_processorpaymentid",
                                            "cspb_amount", "_cspb_invoice_value"],
                   filter=f"cspb_status eq {int(PAYMENT_PENDING)} and cspb_processorpaymentid ne null")
    return [r for r in rows if r.get("cspb_processorpaymentid") and r.get("_cspb_invoice_value")]


def write_payment(dv: Any, invoice: InvoiceDoc, key: str, *, amount: Decimal, processor: str, status: int,
                  processor_payment_id: str = "", error: str = "", paid_on: date | None = None) -> None:
    record: dict[str, Any] = {
        "cspb_name": f"{invoice.number} {processor}"[:100], "cspb_invoice@odata.bind": f"/invoices({invoice.id})",
        "cspb_amount": str(amount), "cspb_currencycode": invoice.currency, "cspb_processor": processor,
        "cspb_status": status, "cspb_processorpaymentid": processor_payment_id or None, "cspb_error": error or None}
    if paid_on:
        record["cspb_paidon"] = paid_on.isoformat() + "T00:00:00Z"
    dv.upsert("cspb_payments", {"cspb_paymentkey": key}, record)


def succeeded_payments(dv: Any, invoice_id: str) -> list[dict[str, Any]]:
    return [p for p in dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {invoice_id}")
            if p.get("cspb_status") == PAYMENT_SUCCEEDED]


def refresh_payment_totals(dv: Any, invoice: InvoiceDoc, *, last_attempt_failed: bool = False) -> InvoiceDoc:
    paid = round_money(sum((dec(p.get("cspb_amount")) for p in succeeded_payments(dv, invoice.id)), ZERO),
                       invoice.currency)
    balance = invoice.total - paid
    if balance <= 0:
        status = PaymentStatus.PAID
    elif paid > 0:
        status = PaymentStatus.PARTIALLY_PAID
    elif last_attempt_failed:
        status = PaymentStatus.FAILED
    else:
        status = PaymentStatus.UNPAID
    dv.update("invoices", invoice.id, {"cspb_amountpaid": str(paid), "cspb_balance": str(balance),
                                       "cspb_paymentstatus": int(status)})
    return load_invoice(dv, invoice.id)


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def resolve_invoice_id(dv: Any, reference: str) -> str:
    """An invoice id from what a person types: the row's GUID or its invoice number."""
    ref = (reference or "").strip()
    if _GUID.match(ref):
        return ref
    escaped = ref.replace("'", "''")
    rows = list(dv.list("invoices", select=["invoiceid"], filter=f"invoicenumber eq '{escaped}'"))
    if len(rows) != 1:
        raise ValidationError(f"no invoice numbered {ref!r}" if not rows else f"{len(rows)} invoices are numbered {ref!r}")
    return str(rows[0]["invoiceid"])
