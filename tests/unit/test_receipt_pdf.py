"""The PDF receipt of a paid invoice row (accounting.render.render_receipt_pdf): the invoice PDF's
fonts and layout helpers, names not ids, money in the payment currency's minor units, en and es; and
the portal's download of it, only for the customer's own succeeded payments."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import date
from decimal import Decimal

from pypdf import PdfReader

from accounting.portal_document import doc_from_portal_invoice
from accounting.render import render_receipt_pdf
from dataverse.stores.payments import Payment
from dataverse.tables import PaymentStatus as AttemptStatus
from payments.invoice_records import Party
from portal.models import Invoice, InvoiceLine, PaymentStatus
from portal.services import Integrations

SELLER = Party("Northwind CSP S.L.", ("Calle Mayor 1", "28013 Madrid"), "ESB12345678")


def _text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages).replace("\xa0", " ")


def _invoice(currency: str, total: Decimal, language: str) -> Invoice:
    return Invoice("9b2f6a1e-0000-4000-8000-0000000000aa", "3c1d7e55-0000-4000-8000-0000000000bb", "INV-0042",
                   currency, total, total - total, date(2026, 11, 1), date(2026, 11, 30), PaymentStatus.PAID, language,
                   (InvoiceLine("Microsoft 365 E3", Decimal(1), total, total),))


def _paid(amount: Decimal, currency: str, processor: str = "stripe") -> Payment:
    return Payment(key="pay-5f0c", invoice_id="9b2f6a1e-0000-4000-8000-0000000000aa", amount=amount,
                   processor=processor, status=AttemptStatus.SUCCEEDED, processor_payment_id="pi_3Qx9",
                   currency=currency, paid_on=date(2026, 12, 1))


def test_spanish_receipt_names_the_parties_and_the_payment():
    invoice = _invoice("EUR", Decimal("1428.00"), "es")
    paid = _paid(Decimal("1428.00"), "EUR")
    text = _text(render_receipt_pdf(doc_from_portal_invoice(invoice), paid, history=[paid],
                                    customer=Party("Fabrikam SA", ("Gran Vía 2", "Madrid")), seller=SELLER))
    assert "Recibo de pago · INV-0042" in text
    assert "Northwind CSP S.L." in text and "Fabrikam SA" in text and "Recibido de" in text
    assert "Se recibieron 1.428,00 € el 1 dic 2026 para la factura INV-0042." in text
    assert "Pagado con tarjeta a través de Stripe." in text and "pi_3Qx9" in text
    assert "Este pago" in text and "Saldo tras este pago" in text and "0,00 €" in text
    assert "9b2f6a1e" not in text and "3c1d7e55" not in text and "pay-5f0c" not in text  # names, not ids


def test_english_receipt_in_a_zero_decimal_currency():
    invoice = _invoice("JPY", Decimal("1428"), "en")
    paid = _paid(Decimal("1428"), "JPY", "authorizenet")
    text = _text(render_receipt_pdf(doc_from_portal_invoice(invoice), paid, history=[paid],
                                    customer="Contoso KK", seller=SELLER))
    assert "Payment receipt · INV-0042" in text and "Received from" in text and "Contoso KK" in text
    assert "¥1,428 was received on Dec 1, 2026 for invoice INV-0042." in text
    assert "1,428.00" not in text and "Paid by card through Authorize.Net." in text


def test_three_decimal_currency_and_a_partial_payment():
    invoice = replace(_invoice("KWD", Decimal("100.250"), "en"), balance=Decimal("40.125"),
                      payment_status=PaymentStatus.PARTIALLY_PAID)
    paid = _paid(Decimal("60.125"), "KWD")
    text = _text(render_receipt_pdf(doc_from_portal_invoice(invoice), paid, history=[paid],
                                    customer="Gulf Trading", seller=SELLER))
    assert "60.125" in text and "100.250" in text and "40.125" in text  # fils, not rounded to cents


def test_a_receipt_downloaded_twice_is_byte_identical():
    doc = doc_from_portal_invoice(_invoice("EUR", Decimal("10.00"), "es"))
    paid = _paid(Decimal("10.00"), "EUR")
    assert render_receipt_pdf(doc, paid, history=[paid], customer="A", seller=SELLER) == render_receipt_pdf(
        doc, paid, history=[paid], customer="A", seller=SELLER)


def test_the_receipt_of_the_first_of_two_partial_payments_keeps_the_balance_after_it():
    """Downloaded after the second payment, the first receipt still shows the balance right after the
    first one (not the invoice's balance now), byte for byte what it showed before; the second receipt
    counts both."""
    first = replace(_paid(Decimal("400.00"), "EUR"), key="pay-1", processor_payment_id="pi_first",
                    paid_on=date(2026, 11, 5))
    second = replace(_paid(Decimal("1028.00"), "EUR"), key="pay-2", processor_payment_id="pi_second",
                     paid_on=date(2026, 11, 20))
    declined = replace(second, key="pay-0", status=AttemptStatus.FAILED)
    partly = replace(_invoice("EUR", Decimal("1428.00"), "es"), balance=Decimal("1028.00"),
                     payment_status=PaymentStatus.PARTIALLY_PAID)
    paid = replace(partly, balance=Decimal("0.00"), payment_status=PaymentStatus.PAID)

    at_the_time = render_receipt_pdf(doc_from_portal_invoice(partly), first, history=[declined, first],
                                     customer="Fabrikam SA", seller=SELLER)
    later = render_receipt_pdf(doc_from_portal_invoice(paid), first, history=[declined, first, second],
                               customer="Fabrikam SA", seller=SELLER)
    assert later == at_the_time
    text = _text(later)
    assert "Se recibieron 400,00 €" in text and "Pagado hasta la fecha 400,00 €" in text
    assert "Saldo tras este pago 1.028,00 €" in text and "Saldo tras este pago 0,00 €" not in text
    text = _text(render_receipt_pdf(doc_from_portal_invoice(paid), second, history=[declined, first, second],
                                    customer="Fabrikam SA", seller=SELLER))
    assert "Pagado hasta la fecha 1.428,00 €" in text and "Saldo tras este pago 0,00 €" in text


def _portal(history):
    from dataclasses import replace as copy

    from portal.seed import seeded_repository
    from portal.wiring import memory_portal
    from shared.config import get_settings
    from tests.plugins.portal import PortalBrowser

    repo = seeded_repository()
    repo.invoices["i-fab"] = copy(repo.invoices["i-fab"], balance=Decimal("0.00"), payment_status=PaymentStatus.PAID)
    integrations = Integrations(payment_history=lambda invoice: history if invoice.id == "i-fab" else [])
    return PortalBrowser(memory_portal(get_settings(), repo, integrations=integrations))


def test_the_portal_receipt_page_links_the_pdf_in_the_invoice_language():
    paid = replace(_paid(Decimal("1428.00"), "EUR"), invoice_id="i-fab")
    failed = replace(paid, key="pay-9", status=AttemptStatus.FAILED)
    browser = _portal([paid, failed])
    browser.sign_in("f-admin")
    page = browser.get("/invoices/i-fab/receipts/pay-5f0c").get_data(as_text=True)
    assert 'id="receipt-pdf"' in page and "Descargar el recibo (PDF)" in page
    r = browser.get("/invoices/i-fab/receipts/pay-5f0c/download")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    assert r.headers["Content-Disposition"] == 'attachment; filename="recibo-INV-0002.pdf"'
    text = _text(r.get_data())
    assert "Recibo de pago · INV-0002" in text and "Fabrikam SA" in text and "1.428,00 €" in text
    assert browser.get("/invoices/i-fab/receipts/pay-9/download").status_code == 404  # not a paid row


def test_another_customers_receipt_pdf_is_404():
    browser = _portal([replace(_paid(Decimal("1428.00"), "EUR"), invoice_id="i-fab")])
    browser.sign_in("c-fin")
    r = browser.get("/invoices/i-fab/receipts/pay-5f0c/download")
    assert r.status_code == 404 and b"%PDF" not in r.get_data()
