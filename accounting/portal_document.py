"""The invoice PDF the portal's Download button returns: the same document accounting renders for
email and the outbox (accounting.render.render_invoice_pdf), never a second layout; and the PDF
receipt of a payment on it (accounting.render.render_receipt_pdf).

Over Dataverse the invoice is read in full (tax lines, periods, addresses) by invoice id; the
in-memory portal has only the portal's own invoice model, which is turned into the document's."""

from __future__ import annotations

from collections.abc import Sequence

from accounting.render import render_invoice_pdf, render_receipt_pdf
from dataverse.client import DataverseClient
from payments import invoice_records as records
from payments.invoice_records import DocLine, InvoiceDoc, Payment
from portal.models import Account, Invoice


def doc_from_portal_invoice(invoice: Invoice) -> InvoiceDoc:
    issued = invoice.period_end or invoice.period_start
    if issued is None:
        from datetime import UTC, datetime

        issued = datetime.now(UTC).date()
    return InvoiceDoc(
        id=invoice.id, key=invoice.id, number=invoice.number, name=invoice.number, account_id=invoice.account_id,
        contract_id=None, currency=invoice.currency, language=invoice.language, total=invoice.total,
        amount_paid=invoice.total - invoice.balance, balance=invoice.balance,
        payment_status=int(invoice.payment_status), period_start=invoice.period_start,
        period_end=invoice.period_end, invoice_date=issued,
        lines=tuple(DocLine(ln.description, ln.quantity, ln.unit_price, ln.amount, "", net=ln.amount,
                            period_start=invoice.period_start, period_end=invoice.period_end)
                    for ln in invoice.lines))


def portal_invoice_pdf(invoice: Invoice, account: Account | None) -> bytes:
    """In-memory portal: the PDF from the portal's invoice model."""
    return render_invoice_pdf(doc_from_portal_invoice(invoice), customer=account.name if account else "",
                              language=invoice.language)


def dataverse_invoice_pdf(dv: DataverseClient, invoice: Invoice) -> bytes:
    """Dataverse portal: the invoice as posted (the caller already checked it is the customer's own)."""
    doc = records.load_invoice(dv, invoice.id)
    customer = records.load_account(dv, doc.account_id).party
    return render_invoice_pdf(doc, customer=customer, language=doc.language or invoice.language)


def portal_receipt_pdf(invoice: Invoice, account: Account | None, payment: Payment,
                       history: Sequence[Payment]) -> bytes:
    """In-memory portal: the receipt of one succeeded payment; `history` is the invoice's attempts, oldest
    first, from which the balance right after this payment is worked out."""
    return render_receipt_pdf(doc_from_portal_invoice(invoice), payment, history=history,
                              customer=account.name if account else "", language=invoice.language)


def dataverse_receipt_pdf(dv: DataverseClient, invoice: Invoice, payment: Payment,
                          history: Sequence[Payment]) -> bytes:
    """Dataverse portal: the receipt of one succeeded payment on the invoice as posted, with the balance
    right after that payment (not the invoice's balance now)."""
    doc = records.load_invoice(dv, invoice.id)
    customer = records.load_account(dv, doc.account_id).party
    return render_receipt_pdf(doc, payment, history=history, customer=customer,
                              language=doc.language or invoice.language)
