"""Accounting export use cases: push invoices (with their customer, items and payments) and the
deferred revenue journal to the configured target, and the generic CSV/JSON journal file.

Each invoice's outcome is written on it: its accounting status Synced (2) or Failed (3) with
the accounting error holding the reason. Failed and never-synced invoices are picked up again
by the next run, so a failure is never silent and never final.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from accounting import base as acc
from accounting.journal_export import render
from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import accounts, invoices, products, revenue_schedules
from payments import invoice_records as records
from shared.errors import IntegrationError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)


def target_for(name: str) -> acc.AccountingTarget:
    if name == "quickbooks":
        from accounting.quickbooks import QuickBooksTarget

        return QuickBooksTarget.from_settings()
    if name == "businesscentral":
        from accounting.businesscentral import BusinessCentralTarget

        return BusinessCentralTarget.from_settings()
    raise ValidationError(f"unknown accounting target {name!r} (quickbooks | businesscentral)")


@dataclass
class ExportReport:
    synced: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"synced": len(self.synced), "failed": len(self.failed), "errors": self.failed}


def export_master_data(*, target: acc.AccountingTarget | str = "quickbooks", dv: DataverseClient | None = None,
                       currency: str = "USD") -> dict[str, int]:
    """Push every account as a customer and every product as an item (item number = SKU,
    i.e. the product number). Invoices push their own customer and items too; this is for a
    first sync, so the accounting side can be reviewed before the first invoice goes over."""
    dv = client_or_default(dv)
    target = target_for(target) if isinstance(target, str) else target
    customers = items = 0
    for account in accounts.all_accounts(dv):
        target.upsert_customer(acc.Customer(account.id, account.name or account.id, account.email, currency))
        customers += 1
    for item in products.numbered_items(dv):
        target.upsert_item(acc.Item(item.number, item.name))
        items += 1
    return {"customers": customers, "items": items}


def to_accounting_invoice(dv: DataverseClient, invoice: records.InvoiceDoc) -> acc.Invoice:
    account = records.load_account(dv, invoice.account_id)
    customer = acc.Customer(invoice.account_id or "", account.name or invoice.account_id or "", account.email,
                            invoice.currency)
    lines = tuple(acc.InvoiceLine(line.sku, line.description, line.quantity, line.unit_price, line.amount)
                  for line in invoice.lines)
    return acc.Invoice(invoice.number, customer, invoice.invoice_date, invoice.currency, lines,
                       due_date=invoice.period_end)


def export_invoice(invoice_id: str, *, target: acc.AccountingTarget, dv: DataverseClient | None = None) -> str:
    """Push one invoice and its succeeded payments; record Synced or Failed (with the reason) on it.
    Returns the target's invoice id; re-raises after recording so the caller sees the failure."""
    dv = client_or_default(dv)
    invoice = records.load_invoice(dv, invoice_id)
    try:
        document = to_accounting_invoice(dv, invoice)
        if document.total != invoice.total:
            raise ValidationError(f"invoice {invoice.number}: lines add up to {document.total}, header says "
                                  f"{invoice.total}")
        remote_id = target.push_invoice(document)
        for payment in records.succeeded_payments(dv, invoice_id):
            paid_on = payment.paid_on or payment.modified_on or date.today()
            target.push_payment(acc.Payment(payment.key, invoice.number, document.customer, payment.amount,
                                            paid_on, invoice.currency), remote_id)
    except IntegrationError as exc:
        invoices.set_accounting_status(dv, invoice_id, records.ACCOUNTING_FAILED, f"{target.name}: {exc}"[:4000])
        raise
    invoices.set_accounting_status(dv, invoice_id, records.ACCOUNTING_SYNCED)
    return remote_id


def export_invoices(invoice_ids: list[str] | None = None, *, target: acc.AccountingTarget | str = "quickbooks",
                    dv: DataverseClient | None = None) -> ExportReport:
    """Push the given invoices, or every invoice not yet Synced (including earlier failures)."""
    dv = client_or_default(dv)
    target = target_for(target) if isinstance(target, str) else target
    if invoice_ids is None:
        invoice_ids = invoices.not_synced_ids(dv)
    report = ExportReport()
    for invoice_id in invoice_ids:
        try:
            export_invoice(invoice_id, target=target, dv=dv)
            report.synced.append(invoice_id)
        except IntegrationError as exc:
            log.warning("accounting export of invoice %s failed: %s", invoice_id, exc)
            report.failed[invoice_id] = str(exc)
    return report


def deferred_revenue_entries(dv: DataverseClient, month: str) -> tuple[list[acc.JournalEntry], list[str]]:
    """One balanced entry per currency releasing `month`'s scheduled revenue
    (debit deferred revenue, credit revenue). Returns the entries and the schedule row ids used."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    used: list[str] = []
    for row_id, entry in revenue_schedules.unexported(dv, month):
        totals[entry.currency or "USD"] += entry.amount
        used.append(row_id)
    year, mon = (int(x) for x in month.split("-"))
    last_day = (date(year + mon // 12, mon % 12 + 1, 1) - date.resolution)
    entries = [acc.JournalEntry(f"DR-{month}-{currency}", last_day, currency, (
        acc.JournalLine(acc.DEFERRED_REVENUE_ACCOUNT, amount, Decimal("0"), f"Deferred revenue released {month}"),
        acc.JournalLine(acc.REVENUE_ACCOUNT, Decimal("0"), amount, f"Revenue recognised {month}")))
        for currency, amount in sorted(totals.items()) if amount]
    return entries, used


def export_deferred_revenue(month: str, *, target: acc.AccountingTarget | str | None = "quickbooks", dv: DataverseClient | None = None,
                            fmt: str = "csv") -> bytes | list[str]:
    """Push the month's deferred revenue journal to `target`, or (target=None) return it as a
    CSV/JSON file. Schedule rows are marked exported only after a successful push."""
    dv = client_or_default(dv)
    entries, used = deferred_revenue_entries(dv, month)
    if target is None:
        return render(entries, fmt)
    target = target_for(target) if isinstance(target, str) else target
    pushed = [target.push_journal(entry) for entry in entries]
    revenue_schedules.mark_exported(dv, used)
    return pushed
