"""The invoice document a customer receives, as HTML (jinja2) and PDF (fpdf2), in the contract's
language (en | es).

It carries the seller (legal name, address, tax id: settings CSPB_SELLER_*), the customer's
billing address and tax id, the invoice number, issue and due dates, each line's service period
(and, for a converted line, the currency it was priced in with the rate and its month), the tax
breakdown per rate, net, tax and total, paid and balance.

Words come from the portal's translation catalog (portal/translations/*.po, one catalog for the
portal and the invoices) and dates, numbers and money are formatted by babel for the locale
(portal.i18n.Translator). The PDF embeds a Unicode TrueType font (Debian's fonts-dejavu-core
DejaVu Sans, or CSPB_INVOICE_FONT), so every currency symbol (₹, ₩, €, ...) and accent prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from billing.payment_standing import standing_after
from payments.invoice_records import DocLine, InvoiceDoc, Party, Payment
from portal.i18n import LANGUAGES, Translator
from shared.errors import FatalError

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html", "j2"]))

# Where Debian's fonts-dejavu-core puts DejaVu Sans (.ci/run installs it).
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",)


def _language(invoice: InvoiceDoc, language: str | None) -> str:
    lang = (language or invoice.language or "en").lower()[:2]
    return lang if lang in LANGUAGES else "en"


def seller_from_settings() -> Party:
    from shared.config import get_settings

    s = get_settings()
    address = tuple(part.strip() for part in s.seller_address.split("|") if part.strip())
    return Party(s.seller_name, address, s.seller_tax_id)


class _View:
    """What both templates read: formatted strings, so HTML and PDF say exactly the same."""

    def __init__(self, invoice: InvoiceDoc, lang: str, seller: Party, customer: Party, contact: str) -> None:
        self.t = Translator(lang)
        self.invoice, self.lang, self.seller, self.customer, self.contact = invoice, lang, seller, customer, contact

    def money(self, amount: Decimal) -> str:
        return self.t.money(amount, self.invoice.currency)

    def rate(self, value: Decimal) -> str:
        return self.t.number(value.normalize())

    @property
    def title(self) -> str:
        return self.t("invoice.document_title", number=self.invoice.number)

    def party_lines(self, party: Party) -> list[str]:
        lines = [party.name, *party.address]
        if party.tax_id:
            lines.append(self.t("invoice.tax_id", tax_id=party.tax_id))
        return [x for x in lines if x]

    def dates(self) -> list[tuple[str, str]]:
        inv = self.invoice
        out = [(self.t("invoice.issue_date"), self.t.date(inv.invoice_date))]
        if inv.due_date:
            out.append((self.t("invoice.due_date"), self.t.date(inv.due_date)))
        if inv.period_start and inv.period_end:
            out.append((self.t("invoice.service_period"),
                        f"{self.t.date(inv.period_start)} – {self.t.date(inv.period_end)}"))
        return out

    def period(self, line: DocLine) -> str:
        if line.period_start is None:
            return ""
        if line.period_end is None or line.period_end == line.period_start:
            return self.t.date(line.period_start)
        return f"{self.t.date(line.period_start)} – {self.t.date(line.period_end)}"

    def note(self, line: DocLine) -> str:
        if not line.source_currency or line.exchange_rate is None:
            return ""
        return self.t("invoice.converted", currency=line.source_currency, rate=self.rate(line.exchange_rate),
                      month=line.rate_month)

    def net(self, line: DocLine) -> Decimal:
        return line.net if line.net is not None else line.amount - line.tax

    def tax_label(self, line: DocLine) -> str:
        if not line.tax and not line.tax_rate_pct:
            return ""
        return self.t.percent(line.tax_rate_pct)

    def breakdown(self) -> list[tuple[str, str, str]]:
        rows = []
        for name, rate, net, tax in self.invoice.tax_breakdown():
            label = name or (self.t.percent(rate) if rate else self.t("invoice.no_tax"))
            rows.append((label, self.money(net), self.money(tax)))
        return rows

    def totals(self) -> list[tuple[str, str, bool]]:
        inv = self.invoice
        return [(self.t("invoice.subtotal"), self.money(inv.net_total), False),
                (self.t("invoice.tax"), self.money(inv.tax_total), False),
                (self.t("invoice.total"), self.money(inv.total), True),
                (self.t("invoice.paid"), self.money(inv.amount_paid), False),
                (self.t("invoice.balance"), self.money(inv.balance), True)]


def _view(invoice: InvoiceDoc, customer: str | Party, contact: str, language: str | None,
          seller: Party | None) -> _View:
    party = customer if isinstance(customer, Party) else Party(customer)
    return _View(invoice, _language(invoice, language), seller if seller is not None else seller_from_settings(),
                 party, contact)


def render_invoice_html(invoice: InvoiceDoc, *, customer: str | Party, contact: str = "", language: str | None = None,
                        seller: Party | None = None) -> str:
    v = _view(invoice, customer, contact, language, seller)
    return _env.get_template("invoice.html.j2").render(v=v, invoice=invoice, _=v.t)


@cache
def font_path() -> Path:
    from shared.config import get_settings

    configured = get_settings().invoice_font
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise FatalError("no Unicode TrueType font for invoice PDFs: install Debian's fonts-dejavu-core "
                     "(apt-get install fonts-dejavu-core) or set CSPB_INVOICE_FONT to a .ttf file")


def _bold_path(regular: Path) -> Path:
    bold = regular.with_name(regular.stem + "-Bold" + regular.suffix)
    return bold if bold.is_file() else regular


def _document(v: _View, title: str, created: date) -> Any:
    """An A4 fpdf2 document with the embedded Unicode font, titled, on its first page."""
    from fpdf import FPDF

    regular = font_path()
    pdf = FPDF(format="A4", unit="mm")
    # A fixed creation date keeps a re-sent document byte-identical.
    pdf.set_creation_date(datetime.combine(created, time(), tzinfo=UTC))
    pdf.add_font("Doc", "", str(regular))
    pdf.add_font("Doc", "B", str(_bold_path(regular)))
    pdf.set_title(title)
    pdf.set_lang(v.lang)
    pdf.add_page()
    return pdf


def _heading_and_parties(pdf: Any, v: _View, title: str, customer_heading: str) -> None:
    """The title, then the seller and the customer side by side (names and addresses, never ids)."""
    from fpdf.enums import XPos, YPos

    pdf.set_font("Doc", "B", 16)
    pdf.cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    top = pdf.get_y() + 2
    for x, heading, party in ((10, v.t("invoice.seller"), v.seller), (110, customer_heading, v.customer)):
        pdf.set_xy(x, top)
        pdf.set_font("Doc", "B", 9)
        pdf.cell(90, 5, heading, new_x=XPos.LEFT, new_y=YPos.NEXT)
        pdf.set_font("Doc", "", 9)
        lines = v.party_lines(party) + ([v.contact] if party is v.customer and v.contact else [])
        for text in lines:
            pdf.cell(90, 4.5, text, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(10, max(pdf.get_y(), top + 30) + 2)


def _labelled(pdf: Any, rows: list[tuple[str, str]]) -> None:
    from fpdf.enums import XPos, YPos

    for label, value in rows:
        pdf.set_font("Doc", "B", 9)
        pdf.cell(40, 5, label)
        pdf.set_font("Doc", "", 9)
        pdf.cell(0, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _totals(pdf: Any, rows: list[tuple[str, str, bool]]) -> None:
    from fpdf.enums import XPos, YPos

    for label, value, bold in rows:
        pdf.set_font("Doc", "B" if bold else "", 10)
        pdf.cell(145, 6, label, align="R")
        pdf.cell(45, 6, value, align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def render_invoice_pdf(invoice: InvoiceDoc, *, customer: str | Party, contact: str = "", language: str | None = None,
                       seller: Party | None = None) -> bytes:
    """The same document as the HTML, as an A4 PDF with an embedded Unicode font."""
    from fpdf.enums import XPos, YPos

    v = _view(invoice, customer, contact, language, seller)
    pdf = _document(v, v.title, invoice.invoice_date)
    next_line: dict[str, Any] = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}
    _heading_and_parties(pdf, v, v.title, v.t("invoice.bill_to"))
    _labelled(pdf, v.dates())
    pdf.ln(3)

    pdf.set_font("Doc", "", 8)
    widths = (60, 38, 18, 28, 18, 28)
    headings = ("invoice.description", "invoice.service_period", "invoice.quantity", "invoice.unit_price",
                "invoice.tax", "invoice.amount")
    with pdf.table(col_widths=widths, text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
                   line_height=4.5, borders_layout="HORIZONTAL_LINES") as table:
        table.row([v.t(h) for h in headings])
        for line in invoice.lines:
            note = v.note(line)
            table.row([line.description + (f"\n{note}" if note else ""), v.period(line),
                       v.t.number(line.quantity.normalize()), v.money(line.unit_price), v.tax_label(line),
                       v.money(v.net(line))])
    pdf.ln(3)
    breakdown = v.breakdown()
    if breakdown:
        pdf.set_font("Doc", "B", 9)
        pdf.cell(0, 5, v.t("invoice.tax_breakdown"), **next_line)
        pdf.set_font("Doc", "", 9)
        for label, net, tax in breakdown:
            pdf.cell(100, 5, label)
            pdf.cell(45, 5, f"{v.t('invoice.taxable')}: {net}", align="R")
            pdf.cell(45, 5, tax, align="R", **next_line)
        pdf.ln(2)
    _totals(pdf, v.totals())
    return bytes(pdf.output())


def render_receipt_pdf(invoice: InvoiceDoc, payment: Payment, *, history: Sequence[Payment], customer: str | Party,
                       contact: str = "", language: str | None = None, seller: Party | None = None) -> bytes:
    """The receipt for one succeeded payment on the invoice, in the invoice's language: who paid whom,
    how much and when, through which processor (its reference), and where the invoice stood right after
    it: paid to date and the balance counting only the payments in `history` (the invoice's attempts,
    oldest first) that arrived before this one (billing.payment_standing), never the invoice as it is now,
    so a later payment does not change an earlier receipt. Money is formatted in the payment's currency
    with that currency's minor units."""
    from fpdf.enums import XPos, YPos

    standing = standing_after(invoice.total, history, payment.key)
    v = _view(invoice, customer, contact, language, seller)
    currency = payment.currency or invoice.currency
    paid_on = payment.paid_on or payment.modified_on or invoice.invoice_date
    title = f"{v.t('receipt.title')} · {invoice.number}"
    pdf = _document(v, title, paid_on)
    _heading_and_parties(pdf, v, title, v.t("receipt.received_from"))
    _labelled(pdf, [(v.t("receipt.date"), v.t.date(paid_on)), (v.t("invoice.number"), invoice.number),
                    (v.t("pay.reference"), payment.processor_payment_id or payment.key)])
    pdf.ln(3)
    pdf.set_font("Doc", "", 10)
    amount = v.t.money(payment.amount, currency)
    pdf.multi_cell(0, 6, v.t("receipt.body", amount=amount, date=v.t.date(paid_on), number=invoice.number),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.multi_cell(0, 6, v.t("receipt.method", processor=processor_label(payment.processor)),
                   new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)
    _totals(pdf, [(v.t("invoice.total"), v.money(invoice.total), False),
                  (v.t("receipt.this_payment"), amount, True),
                  (v.t("receipt.paid_to_date"), v.money(standing.paid_to_date), False),
                  (v.t("receipt.balance_after"), v.money(standing.balance), True)])
    return bytes(pdf.output())


# How a customer knows the processors (a payment row stores our short name).
PROCESSOR_LABELS = {"stripe": "Stripe", "authorizenet": "Authorize.Net"}


def processor_label(name: str) -> str:
    return PROCESSOR_LABELS.get(name, name.title())
