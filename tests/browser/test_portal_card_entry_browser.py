"""Headless Chromium adds a card on the Stripe sandbox's hosted card page (typing Stripe's test card
numbers), comes back to the portal with it saved, and pays an invoice. The portal runs on 127.0.0.1
with its production wiring (portal.wiring.integrations_for) against the Dataverse and Stripe
sandboxes; Stripe's webhooks reach the real webhook trigger."""

from __future__ import annotations

import re
from contextlib import contextmanager
from decimal import Decimal

import pytest

from tests.browser.test_portal_browser import CHROMIUM, sign_in

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and not __import__("os").environ.get("CI"),
                       reason="/usr/bin/chromium is not installed (CI installs it and never skips)"),
]


@contextmanager
def _portal(dv, monkeypatch):
    """The Dataverse-backed portal served on 127.0.0.1, CSPB_PORTAL_BASE_URL pointing at it (so the
    processor sends the customer back there); yields (base url, ids, dv)."""
    from portal.app import create_app
    from portal.dataverse_repo import DataverseRepository
    from portal.dataverse_seed import seed_dataverse
    from portal.wiring import integrations_for
    from sandbox._server import RunningServer
    from shared.config import get_settings, reset_settings

    ids = seed_dataverse(dv)
    holder: dict = {}
    with RunningServer(lambda environ, start: holder["app"](environ, start), 0) as server:
        monkeypatch.setenv("CSPB_PORTAL_BASE_URL", server.url + "/portal")
        reset_settings()
        settings = get_settings()
        holder["app"] = create_app(settings, DataverseRepository(dv), mount="/portal",
                                   integrations=integrations_for(dv, settings))
        yield server.url + "/portal", ids, dv


@pytest.fixture
def card_portal(stripe_hosted, dv, monkeypatch):
    with _portal(dv, monkeypatch) as site:
        yield site


@pytest.fixture
def anet_portal(authorizenet_hosted, dv, monkeypatch):
    with _portal(dv, monkeypatch) as site:
        yield site


def _type_card(page, number: str) -> None:
    page.wait_for_selector("#cardNumber")
    assert "TEST MODE" in page.content()
    page.fill("#cardNumber", number)
    page.fill("#cardExpiry", "12 / 34")
    page.fill("#cardCvc", "123")
    page.fill("#billingName", "Fabio Garcia")
    page.click("#submitButton")


def _add_card(page, base: str, ids: dict, number: str) -> None:
    page.goto(base + "/payment")
    page.click(f"form[action$='/payment/{ids['k-fabrikam']}/link'] button")
    page.click("#continue-to-card")
    _type_card(page, number)


def test_add_a_card_on_the_hosted_page_then_pay_an_invoice(page, card_portal):
    base, ids, dv = card_portal
    page.goto(base + "/lang/en?next=/portal/signin")
    sign_in(page, base, ids["f-admin"])
    page.wait_for_selector("text=Welcome, Fabio Garcia")

    # A declined card stays on the processor's page with its message; the good one comes back saved.
    _add_card(page, base, ids, "4000 0000 0000 0002")
    page.wait_for_selector("#error")
    assert "Your card was declined." in page.inner_text("#error")
    assert "/c/pay/cs_test_" in page.url
    page.fill("#cardNumber", "4242 4242 4242 4242")
    page.click("#submitButton")
    page.wait_for_selector("#pay-done")
    assert page.url.startswith(base + "/pay/") and "session_id=cs_test_" in page.url
    assert "Visa card ending in 4242 is saved" in page.inner_text("#pay-done")
    token = dv.get("cspb_billingcontracts", ids["k-fabrikam"])["cspb_paymenttoken"]
    assert token.startswith("cus_") and "4242" not in token

    page.goto(f"{base}/invoices/{ids['i-fab']}")
    page.click("#pay-saved")
    page.wait_for_selector("#payment-result")
    assert "was paid" in page.inner_text("#payment-result")
    history = page.inner_text("#payment-history")
    assert "Paid" in history and "pi_" in history
    page.click("#payment-history a.receipt")
    page.wait_for_selector("#receipt")
    assert "INV-" in page.inner_text("#receipt") and "received" in page.inner_text("#receipt")
    assert Decimal(str(dv.get("invoices", ids["i-fab"])["cspb_balance"])) == 0


def test_new_card_with_3d_secure_challenge_pays_the_invoice(page, card_portal):
    base, ids, dv = card_portal
    page.goto(base + "/lang/en?next=/portal/signin")
    sign_in(page, base, ids["f-admin"])
    page.goto(f"{base}/invoices/{ids['i-fab']}")
    page.click("#pay-new-card")
    _type_card(page, "4000 0025 0000 3155")  # "authenticate unless set up": 3-D Secure once, on setup
    page.wait_for_selector("#three-ds")
    page.click("#test-source-fail-3ds")
    page.wait_for_selector("#error")
    assert "unable to authenticate" in page.inner_text("#error")
    _type_card(page, "4000 0025 0000 3155")
    page.click("#test-source-authorize-3ds")
    page.wait_for_selector("#payment-result")
    assert re.search(r"Thank you: .*1,428\.00 was paid", page.inner_text("#payment-result"))
    assert page.url.startswith(f"{base}/invoices/{ids['i-fab']}?payment=pay-")  # the invoice's own page
    assert "3155" not in dv.get("cspb_billingcontracts", ids["k-fabrikam"])["cspb_paymenttoken"]


def test_card_that_always_needs_3d_secure_asks_the_customer_then_brings_them_back_to_the_invoice(
        page, card_portal, stripe_hosted):
    base, ids, dv = card_portal
    page.goto(base + "/lang/en?next=/portal/signin")
    sign_in(page, base, ids["f-admin"])
    page.goto(f"{base}/invoices/{ids['i-fab']}")
    page.click("#pay-new-card")
    _type_card(page, "4000 0027 6000 3184")
    page.click("#test-source-authorize-3ds")
    page.wait_for_selector("#authenticate")  # saved; the charge itself needs the customer at the bank
    assert "3-D Secure" in page.inner_text("#payment-result")
    assert "Pay this invoice" in page.inner_text("#pay-invoice")  # nothing taken yet
    page.click("#authenticate")
    page.wait_for_selector("#three-ds")  # the bank's page
    page.click("#test-source-authorize-3ds")
    page.wait_for_selector("#payment-result")
    assert page.url.startswith(f"{base}/invoices/{ids['i-fab']}?payment=pay-"), page.url
    assert re.search(r"Thank you: .*1,428\.00 was paid", page.inner_text("#payment-result"))
    assert "Paid" in page.inner_text("#payment-history") and page.locator("#pay-invoice").count() == 0
    assert stripe_hosted.sandbox.webhooks.wait(15)  # the webhook, when it comes, finds it already recorded
    assert Decimal(str(dv.get("invoices", ids["i-fab"])["cspb_balance"])) == 0


def test_authorizenet_contract_adds_a_card_on_the_hosted_form(page, anet_portal):
    """The portal posts Authorize.Net's page token to its hosted form (auto-submitted), the customer
    types a test card there and continues back to the portal."""
    base, ids, dv = anet_portal
    dv.update("cspb_billingcontracts", ids["k-contoso"], {"cspb_paymentprovider": "authorizenet"})
    sign_in(page, base, ids["c-fin"])
    page.goto(base + "/payment")
    page.click(f"form[action$='/payment/{ids['k-contoso']}/link'] button")
    page.click("#continue-to-card")
    page.wait_for_selector("#cardNum")  # on the processor's page, reached by the auto-submitted POST
    assert "/customer/addPayment" in page.url and "Authorize.Net" in page.content()
    page.fill("#cardNum", "4111111111111111")
    page.fill("#expiryDate", "1234")
    page.fill("#cvv", "123")
    page.fill("#zip", "46282")  # Authorize.Net's decline trigger
    page.click("#payButton")
    page.wait_for_selector("#error")
    assert "declined" in page.inner_text("#error")
    page.fill("#zip", "98004")
    page.click("#payButton")
    page.click("#continue")
    page.wait_for_selector("#pay-done")
    assert "Visa card ending in 1111 is saved" in page.inner_text("#pay-done")
    assert re.fullmatch(r"\d+/\d+", dv.get("cspb_billingcontracts", ids["k-contoso"])["cspb_paymenttoken"])


def test_authorizenet_pay_with_a_new_card_pays_on_accept_hosted(page, anet_portal):
    """Accept Hosted: one page takes the payment and saves the card; back on the invoice, paid."""
    base, ids, dv = anet_portal
    dv.update("cspb_billingcontracts", ids["k-contoso"], {"cspb_paymentprovider": "authorizenet",
                                                          "cspb_paymenttoken": None})
    dv.update("invoices", ids["i-1"], {"cspb_balance": 1464.00, "cspb_paymentstatus": 1})
    sign_in(page, base, ids["c-fin"])
    page.goto(f"{base}/invoices/{ids['i-1']}")
    page.click("#pay-new-card")
    page.wait_for_selector("#cardNum")  # the auto-submitted form reached the hosted payment page
    assert "/payment/payment" in page.url and "Amount: $1464.00" in page.content()
    page.fill("#cardNum", "4111111111111111")
    page.fill("#expiryDate", "1234")
    page.fill("#cvv", "123")
    page.fill("#zip", "98004")
    page.click("#payButton")
    page.wait_for_selector("#payment-result")
    assert page.url.startswith(f"{base}/invoices/{ids['i-1']}?payment=pay-"), page.url
    assert "Thank you: $1,464.00 was paid." in page.inner_text("#payment-result")
    assert Decimal(str(dv.get("invoices", ids["i-1"])["cspb_balance"])) == 0
