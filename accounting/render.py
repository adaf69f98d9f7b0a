"""Invoice rendering: HTML from a jinja2 template in the contract's language (en | es).
PDF is not produced: no PDF library is installed, and HTML mails and prints as it is."""

from __future__ import annotations

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


def render_invoice_html(invoice: InvoiceDoc, *, customer: str, contact: str = "", language: str | None = None) -> str:
    lang = (language or invoice.language or "en").lower()[:2]
    lang = lang if lang in TEXTS else "en"
    decimal_sep = "," if lang == "es" else "."

    def money(value: Decimal) -> str:
        text = f"{round_money(value, invoice.currency):,}"
        return text.replace(",", "\0").replace(".", decimal_sep).replace("\0", "." if lang == "es" else ",")

    return _env.get_template("invoice.html.j2").render(invoice=invoice, customer=customer, contact=contact,
                                                         lang=lang, t=TEXTS[lang], money=money)
