"""Invoice HTML in en/es, the generic journal file, and Business Central codes."""

from __future__ import annotations

import csv
import io
import json
import re
import zlib
from datetime import date
from decimal import Decimal

import pytest

from accounting.base import JournalEntry, JournalLine
from accounting.businesscentral import bc_code
from accounting.journal_export import render
from accounting.render import render_invoice_html, render_invoice_pdf
from payments.invoice_records import DocLine, InvoiceDoc
from shared.errors import ValidationError


def _invoice(language: str = "en") -> InvoiceDoc:
    line = DocLine("Microsoft 365 <Basic>", Decimal("1000"), Decimal("7.20"), Decimal("7200.00"), "SKU1")
    return InvoiceDoc("id", "key", "INV-1", "INV-1", "acc", "con", "USD", language, Decimal("7200.00"), Decimal("0"),
                      Decimal("7200.00"), 1, date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 1), (line,))


def test_html_in_english_and_spanish_is_escaped():
    en = render_invoice_html(_invoice(), customer="Contoso & Co")
    es = render_invoice_html(_invoice("es"), customer="Contoso")
    assert "Invoice INV-1" in en and "7,200.00" in en and "Contoso &amp; Co" in en and "&lt;Basic&gt;" in en
    assert "Factura INV-1" in es and "7.200,00" in es and "Saldo pendiente" in es
    assert "Invoice" in render_invoice_html(_invoice("fr"), customer="x")  # unknown language falls back


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
    """The text operands of a PDF's (deflated) content streams; enough to check what was drawn."""
    out = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            out.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            continue
    return "\n".join(re.findall(r"\((.*?)\) Tj", "\n".join(out)))


def test_pdf_in_english_and_spanish():
    en = render_invoice_pdf(_invoice(), customer="Contoso & Co", contact="Ann Lee")
    es = render_invoice_pdf(_invoice("es"), customer="Compañía Ñandú")
    assert en.startswith(b"%PDF-") and es.startswith(b"%PDF-")
    assert "Invoice INV-1" in pdf_text(en) and "7,200.00 USD" in pdf_text(en) and "Contoso & Co - Ann Lee" in pdf_text(en)
    text = pdf_text(es)
    assert "Factura INV-1" in text and "7.200,00 USD" in text and "Saldo pendiente" in text and "Compañía Ñandú" in text
    # Re-rendering gives the same bytes (a re-sent invoice is the same document).
    assert render_invoice_pdf(_invoice("es"), customer="Compañía Ñandú") == es


def test_pdf_survives_characters_outside_latin1():
    doc = _invoice()
    odd = InvoiceDoc(**{**doc.__dict__, "lines": (DocLine("Plan – “Pro” 日本", Decimal("1"), Decimal("7200"),
                                                          Decimal("7200.00"), "S"),)})
    assert 'Plan - "Pro" ??' in pdf_text(render_invoice_pdf(odd, customer="x"))
