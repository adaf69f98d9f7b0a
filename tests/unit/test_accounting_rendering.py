"""Invoice HTML in en/es, the generic journal file, and Business Central codes."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest

from accounting.base import JournalEntry, JournalLine
from accounting.businesscentral import bc_code
from accounting.journal_export import render
from accounting.render import render_invoice_html, render_invoice_pdf
from payments.invoice_records import DocLine, InvoiceDoc, Party
from shared.errors import ValidationError

SELLER = Party("Contoso Cloud Services S.L.", ("Calle Mayor 1", "28013 Madrid"), "ESB12345678")
CUSTOMER = Party("Compañía Ñandú", ("Av. Siempre Viva 742", "08001 Barcelona", "ES"), "ESA87654321")


def _invoice(language: str = "en", currency: str = "USD") -> InvoiceDoc:
    line = DocLine("Microsoft 365 <Basic>", Decimal("1000"), Decimal("7.20"), Decimal("7920.00"), "SKU1",
                   period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), net=Decimal("7200.00"),
                   tax=Decimal("720.00"), tax_rate_pct=Decimal("10"), tax_name="IVA 10%")
    converted = DocLine("Azure usage Compute", Decimal("1"), Decimal("400000"), Decimal("400000.00"), "AZ",
                        period_start=date(2026, 2, 1), period_end=date(2026, 2, 28), net=Decimal("400000.00"),
                        source_currency="USD", exchange_rate=Decimal("4000.00"), rate_month="2026-02")
    return InvoiceDoc("id", "key", "INV-1", "INV-1", "acc", "con", currency, language, Decimal("407920.00"),
                      Decimal("1000.00"), Decimal("406920.00"), 1, date(2026, 3, 1), date(2026, 3, 31),
                      date(2026, 3, 2), (line, converted), due_date=date(2026, 4, 1))


def test_html_in_english_and_spanish_is_escaped_and_complete():
    en = render_invoice_html(_invoice(), customer=Party("Contoso & Co"), seller=SELLER)
    es = render_invoice_html(_invoice("es"), customer=CUSTOMER, seller=SELLER)
    assert "Invoice INV-1" in en and "$7,200.00" in en and "Contoso &amp; Co" in en and "&lt;Basic&gt;" in en
    assert "Due date" in en and "Apr 1, 2026" in en and "Tax ID: ESB12345678" in en and "IVA 10%" in en
    assert "Priced in USD, converted at 4,000 (2026-02)" in en
    assert "Factura INV-1" in es and "7.200,00" in es and "Saldo pendiente" in es and "Fecha de vencimiento" in es
    assert "Av. Siempre Viva 742" in es and "NIF: ESA87654321" in es and "Desglose de impuestos" in es
    assert "Invoice" in render_invoice_html(_invoice("fr"), customer="x", seller=SELLER)  # unknown language falls back


def test_journal_csv_and_json_keep_exact_decimals():
    entry = JournalEntry("DR-2026-03-USD", date(2026, 3, 31), "USD", (
        JournalLine("2400", Decimal("0.10"), Decimal("0")), JournalLine("4000", Decimal("0"), Decimal("0.10"))))
    rows = list(csv.DictReader(io.StringIO(render([entry]).decode())))
    assert rows[0]["debit"] == "0.10" and rows[1]["credit"] == "0.10"
    assert json.loads(render([entry], "json"))["rows"][0]["account"] == "2400"
    with pytest.raises(ValidationError):
        render([JournalEntry("x", date(2026, 3, 31), "USD", (JournalLine("1", Decimal("1"), Decimal("0")),))])
    with pytest.raises(ValidationError):
        render([entry], "xml")


def test_bc_codes_fit_twenty_characters():
    assert bc_code("cfq7ttc0lh18:0001") == "CFQ7TTC0LH18:0001"
    long = bc_code("0b7d3c1e-8f7a-4c43-9b1e-3c1f5d2a9e10")
    assert len(long) == 20 and long == bc_code("0b7d3c1e-8f7a-4c43-9b1e-3c1f5d2a9e10")


def pdf_text(data: bytes) -> str:
    """The text a reader extracts from the PDF (through the embedded font's ToUnicode map)."""
    from pypdf import PdfReader

    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_pdf_in_english_and_spanish_with_an_embedded_unicode_font():
    en = render_invoice_pdf(_invoice(), customer=Party("Contoso & Co"), contact="Ann Lee", seller=SELLER)
    es = render_invoice_pdf(_invoice("es"), customer=CUSTOMER, seller=SELLER)
    assert en.startswith(b"%PDF-") and b"/FontFile2" in en  # the TrueType font travels inside the file
    text = pdf_text(en)
    assert "Invoice INV-1" in text and "$7,200.00" in text and "Contoso & Co" in text and "Ann Lee" in text
    assert "Tax breakdown" in text and "Balance due" in text and "$406,920.00" in text
    text = pdf_text(es)
    assert "Factura INV-1" in text and "Saldo pendiente" in text and "Compañía Ñandú" in text
    assert "NIF: ESB12345678" in text and "Fecha de vencimiento" in text
    # Re-rendering gives the same bytes (a re-sent invoice is the same document).
    assert render_invoice_pdf(_invoice("es"), customer=CUSTOMER, seller=SELLER) == es


@pytest.mark.parametrize(("currency", "symbol"), [("INR", "₹"), ("KRW", "₩"), ("EUR", "€"), ("GBP", "£")])
def test_pdf_prints_every_currency_symbol(currency, symbol):
    doc = _invoice(currency=currency)
    text = pdf_text(render_invoice_pdf(doc, customer=CUSTOMER, seller=SELLER))
    assert symbol in text and "Plan" not in text


def test_pdf_keeps_typographic_characters():
    doc = _invoice()
    odd = InvoiceDoc(**{**doc.__dict__, "lines": (DocLine("Plan – “Pro” Ñ", Decimal("1"), Decimal("7200"),
                                                          Decimal("7200.00"), "S"),)})
    assert "Plan – “Pro” Ñ" in pdf_text(render_invoice_pdf(odd, customer="x", seller=SELLER))
