"""Invoices as a CSV/JSON file, for partners whose accounting system has no connector here.

One row per invoice line with the invoice header repeated, so the file imports as a flat table
(QuickBooks Desktop / Xero / Sage import sheets all take this shape). Amounts are decimal
strings. A file is not a confirmed push, so exported invoices are not marked Synced.
"""

from __future__ import annotations

from collections.abc import Iterable

from accounting import flat_file
from accounting.service import to_accounting_invoice
from dataverse.client import DataverseClient
from payments import invoice_records as records

COLUMNS = ("invoice", "date", "due_date", "customer_key", "customer", "customer_email", "currency", "sku",
           "description", "quantity", "unit_price", "amount", "invoice_total", "amount_paid", "balance")


def invoice_rows(dv: DataverseClient, invoice_ids: Iterable[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for invoice_id in invoice_ids:
        doc = records.load_invoice(dv, invoice_id)
        invoice = to_accounting_invoice(dv, doc)
        header = {"invoice": invoice.number, "date": invoice.invoice_date.isoformat(),
                  "due_date": invoice.due_date.isoformat() if invoice.due_date else "",
                  "customer_key": invoice.customer.key, "customer": invoice.customer.name,
                  "customer_email": invoice.customer.email, "currency": invoice.currency,
                  "invoice_total": str(doc.total), "amount_paid": str(doc.amount_paid), "balance": str(doc.balance)}
        for line in invoice.lines:
            out.append({**header, "sku": line.sku, "description": line.description, "quantity": str(line.quantity),
                        "unit_price": str(line.unit_price), "amount": str(line.amount)})
    return out


def render_invoices(dv: DataverseClient, invoice_ids: Iterable[str], fmt: str = "csv") -> bytes:
    return flat_file.encode(COLUMNS, invoice_rows(dv, invoice_ids), fmt, "invoice file")
