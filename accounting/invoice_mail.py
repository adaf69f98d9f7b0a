"""The invoice e-mail: to the contract's billing contact, in the contract's language, with the PDF and,
where the invoice has Azure usage, a CSV of its usage lines."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from typing import Any

from accounting.render import render_invoice_html, render_invoice_pdf
from billing.models import LineType
from payments.invoice_records import InvoiceDoc, Party
from portal.i18n import Translator
from shared.mail import Attachment, OutgoingMail

# Used only while an invoice carries no due date of its own.
DEFAULT_PAYMENT_TERMS_DAYS = 30


def due_date(invoice: InvoiceDoc) -> date:
    own = getattr(invoice, "due_date", None)
    return own if isinstance(own, date) else invoice.invoice_date + timedelta(days=DEFAULT_PAYMENT_TERMS_DAYS)


def file_stem(invoice: InvoiceDoc) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", invoice.number or invoice.id)


def usage_csv(invoice: InvoiceDoc) -> bytes | None:
    usage = [line for line in invoice.lines if line.line_type == int(LineType.USAGE)]
    if not usage:
        return None
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["invoice", "description", "quantity", "unit_price", "amount", "currency"])
    for line in usage:
        writer.writerow([invoice.number, line.description, line.quantity, line.unit_price, line.amount,
                         invoice.currency])
    return out.getvalue().encode("utf-8")


def compose(invoice: InvoiceDoc, *, to: str, customer: str | Party, contact: str, language: str,
            partner: str = "") -> OutgoingMail:
    """`customer` is the account's name, or the Party (name, billing address, tax id) the document prints."""
    t = Translator(language)
    party = customer if isinstance(customer, Party) else Party(customer)
    customer = party.name
    partner = partner or t("app.name")
    values: dict[str, Any] = {"number": invoice.number, "partner": partner, "account": customer,
                              "date": invoice.invoice_date, "due": due_date(invoice),
                              "balance": t.money(invoice.balance, invoice.currency)}
    stem = file_stem(invoice)
    attachments = [Attachment(f"{stem}.pdf", "application/pdf",
                              render_invoice_pdf(invoice, customer=party, contact=contact, language=t.language))]
    usage = usage_csv(invoice)
    paragraphs = [t("email.greeting", name=contact or customer), t("email.invoice_body", **values)]
    if usage is not None:
        attachments.append(Attachment(f"{stem}-usage.csv", "text/csv", usage))
        paragraphs.append(t("email.invoice_usage"))
    paragraphs.append(t("email.invoice_thanks"))
    invoice_html = render_invoice_html(invoice, customer=party, contact=contact, language=t.language)
    intro = "".join(f"<p>{_escape(p)}</p>" for p in paragraphs)
    html = f'<!doctype html><html lang="{t.language}"><body>{intro}<hr>{invoice_html}</body></html>'
    return OutgoingMail(to=(to,), subject=t("email.invoice_subject", **values), html=html,
                        text="\n\n".join(paragraphs), language=t.language, attachments=tuple(attachments),
                        key=f"invoice:{invoice.id}")


def _escape(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def compose_reminder(invoice: InvoiceDoc, *, final: bool, days_overdue: int, step: int, to: str, customer: str,
                     contact: str, language: str, partner: str = "") -> OutgoingMail:
    """A payment reminder (or the final notice), with the invoice PDF attached again."""
    t = Translator(language)
    partner = partner or t("app.name")
    values: dict[str, Any] = {"number": invoice.number, "partner": partner, "account": customer,
                              "date": invoice.invoice_date, "due": due_date(invoice), "days": days_overdue,
                              "balance": t.money(invoice.balance, invoice.currency)}
    prefix = "email.final" if final else "email.reminder"
    paragraphs = [t("email.greeting", name=contact or customer), t(f"{prefix}_body", **values),
                  t("email.invoice_thanks")]
    html = f'<!doctype html><html lang="{t.language}"><body>' + "".join(
        f"<p>{_escape(p)}</p>" for p in paragraphs) + "</body></html>"
    pdf = render_invoice_pdf(invoice, customer=customer, contact=contact, language=t.language)
    kind = "final" if final else f"reminder-{step}"
    return OutgoingMail(to=(to,), subject=t(f"{prefix}_subject", **values), html=html, text="\n\n".join(paragraphs),
                        language=t.language, key=f"invoice:{invoice.id}:{kind}",
                        attachments=(Attachment(f"{file_stem(invoice)}.pdf", "application/pdf", pdf),))
