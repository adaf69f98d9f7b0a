"""Invoice rendering in the contract's language (en | es): HTML from a jinja2 template, and the
same content as a PDF (fpdf2, pure Python; its built-in Helvetica covers Spanish, so no font
file ships with the app)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from decimal import Decimal
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from billing.money import round_money
from payments.invoice_records import InvoiceDoc

TEXTS = {
    "en": {"invoice": "Invoice", "billed_to": "Billed to", "date": "Date", "period": "Period",
           "description": "Description", "quantity": "Qty", "unit_price": "Unit price", "amount": "Amount",
           "total": "Total", "paid": "Paid", "balance": "Balance due"},
    "es": {"invoice": "Factura", "billed_to": "Facturado a", "date": "Fecha", "period": "Periodo",
           "description": "Descripción", "quantity": "Cant.", "unit_price": "Precio unitario", "amount": "Importe",
           "total": "Total", "paid": "Pagado", "balance": "Saldo pendiente"},
}

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html", "j2"]))


def _language(invoice: InvoiceDoc, language: str | None) -> str:
    lang = (language or invoice.language or "en").lower()[:2]
    return lang if lang in TEXTS else "en"


def _money_formatter(invoice: InvoiceDoc, lang: str) -> Callable[[Decimal], str]:
    decimal_sep = "," if lang == "es" else "."

    def money(value: Decimal) -> str:
        text = f"{round_money(value, invoice.currency):,}"
        return text.replace(",", "\0").replace(".", decimal_sep).replace("\0", "." if lang == "es" else ",")

    return money


def render_invoice_html(invoice: InvoiceDoc, *, customer: str, contact: str = "", language: str | None = None) -> str:
    lang = _language(invoice, language)
    return _env.get_template("invoice.html.j2").render(invoice=invoice, customer=customer, contact=contact,
                                                         lang=lang, t=TEXTS[lang], money=_money_formatter(invoice, lang))


# The core PDF fonts encode Latin-1: typographic characters outside it get their plain forms.
_PLAIN = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                        "\u2026": "...", "\u20ac": "EUR", "\u2122": "(TM)", "\u00a0": " "})


def _latin1(text: str) -> str:
    return str(text).translate(_PLAIN).encode("latin-1", "replace").decode("latin-1")


def render_invoice_pdf(invoice: InvoiceDoc, *, customer: str, contact: str = "", language: str | None = None) -> bytes:
    """The invoice as an A4 PDF with the HTML's content (lines, total, paid, balance)."""
    from fpdf import FPDF
    from fpdf.enums import XPos, YPos

    lang = _language(invoice, language)
    t, money = TEXTS[lang], _money_formatter(invoice, lang)
    pdf = FPDF(format="A4", unit="mm")
    # A fixed creation date keeps a re-sent invoice byte-identical.
    pdf.set_creation_date(datetime.combine(invoice.invoice_date, time(), tzinfo=UTC))
    pdf.set_title(_latin1(f"{t['invoice']} {invoice.number}"))
    pdf.set_lang(lang)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"{t['invoice']} {invoice.number}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "", 10)
    billed = f"{t['billed_to']}: {customer}" + (f" - {contact}" if contact else "")
    pdf.cell(0, 6, _latin1(billed), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    dates = f"{t['date']}: {invoice.invoice_date.isoformat()}"
    if invoice.period_start and invoice.period_end:
        dates += f"    {t['period']}: {invoice.period_start.isoformat()} - {invoice.period_end.isoformat()}"
    pdf.cell(0, 6, _latin1(dates), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    widths = (95, 20, 32, 33)
    with pdf.table(col_widths=widths, text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"), line_height=6,
                   borders_layout="HORIZONTAL_LINES") as table:
        table.row([_latin1(t[k]) for k in ("description", "quantity", "unit_price", "amount")])
        for line in invoice.lines:
            table.row([_latin1(line.description), f"{line.quantity.normalize():f}", money(line.unit_price),
                       money(line.amount)])
    pdf.ln(2)
    for key, value, bold in (("total", f"{money(invoice.total)} {invoice.currency}", True),
                             ("paid", money(invoice.amount_paid), False),
                             ("balance", f"{money(invoice.balance)} {invoice.currency}", True)):
        pdf.set_font("Helvetica", "B" if bold else "", 10)
        pdf.cell(sum(widths[:3]), 6, _latin1(t[key]), align="R")
        pdf.cell(widths[3], 6, _latin1(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
