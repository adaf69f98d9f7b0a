"""Download in the portal returns the invoice PDF accounting renders, only for the customer's own invoices."""

from __future__ import annotations

import io

from pypdf import PdfReader


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_download_is_the_rendered_pdf_in_the_invoice_language(portal_browser):
    portal_browser.sign_in("f-admin")
    r = portal_browser.get("/invoices/i-fab/download")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="INV-0002.pdf"'
    text = _text(r.get_data())
    assert "INV-0002" in text and "Microsoft 365 E3" in text and "1.428,00" in text and "Fabrikam SA" in text


def test_another_customers_invoice_pdf_is_404(portal_browser):
    portal_browser.sign_in("c-fin")
    r = portal_browser.get("/invoices/i-fab/download")
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/html")
    assert b"%PDF" not in r.get_data()


def test_signed_out_download_goes_to_sign_in(portal_browser):
    r = portal_browser.get("/invoices/i-1/download")
    assert r.status_code == 302 and "/signin" in r.headers["Location"]
