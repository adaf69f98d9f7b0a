"""Pay this invoice from the portal with the saved method: status, declines in plain words, 3-D Secure link."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from payments.service import ChargeOutcome
from portal.app import create_app
from portal.services import Integrations
from shared.config import get_settings
from tests.plugins.portal import PortalBrowser


def _browser(portal_repo, outcome):
    calls = []

    def pay(invoice, purpose):
        calls.append((invoice.id, purpose))
        return outcome

    app = create_app(get_settings(), portal_repo, mount="/portal", integrations=Integrations(pay_invoice=pay))
    return PortalBrowser(app), calls


def _pay(browser, invoice_id):
    page = browser.get(f"/invoices/{invoice_id}").get_data(as_text=True)
    attempt = re.search(r'name="attempt" value="([^"]+)"', page)
    assert attempt, "no Pay button"
    return browser.post(f"/invoices/{invoice_id}/pay", {"attempt": attempt.group(1)},
                        token_from=f"/invoices/{invoice_id}")


def test_paying_charges_with_a_portal_purpose_and_shows_success(portal_repo):
    browser, calls = _browser(portal_repo, ChargeOutcome("succeeded", Decimal("1428.00"), "k"))
    browser.sign_in("f-admin")
    r = _pay(browser, "i-fab")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "Gracias: se han pagado 1.428,00" in page
    ((invoice_id, purpose),) = calls
    assert invoice_id == "i-fab" and purpose.startswith("portal-")


@pytest.mark.parametrize("message,expected", [
    ("Your card has insufficient funds. (insufficient_funds)", "fondos insuficientes"),
    ("Your card was declined. (generic_decline)", "La tarjeta fue rechazada. No se ha cobrado nada"),
    ("Your card has expired. (expired_card)", "ha caducado"),
])
def test_declines_read_in_plain_translated_words_with_the_processors_text(portal_repo, message, expected):
    browser, _ = _browser(portal_repo, ChargeOutcome("failed", Decimal("1428.00"), "k", message))
    browser.sign_in("f-admin")
    page = _pay(browser, "i-fab").get_data(as_text=True)
    assert expected in page and "Respuesta del proveedor:" in page
    assert 'name="attempt"' in page  # they can try again, with a new attempt id


def test_requires_action_shows_the_3ds_link(portal_repo):
    url = "https://hooks.stripe.example/3d_secure_2/authenticate/pi_1"
    browser, _ = _browser(portal_repo, ChargeOutcome("requires_action", Decimal("1428.00"), "k", "authenticate",
                                                     action_url=url))
    browser.sign_in("f-admin")
    page = _pay(browser, "i-fab").get_data(as_text=True)
    assert "3-D Secure" in page and f'href="{url}"' in page


def test_no_pay_button_on_a_paid_invoice_and_no_paying_someone_elses(portal_repo):
    browser, calls = _browser(portal_repo, ChargeOutcome("succeeded", Decimal("1"), "k"))
    browser.sign_in("c-fin")
    assert 'name="attempt"' not in browser.get("/invoices/i-1").get_data(as_text=True)
    r = browser.post("/invoices/i-fab/pay", {"attempt": "abc123"}, token_from="/invoices/i-1")
    assert r.status_code == 404 and calls == []


def test_subscription_manager_cannot_pay(portal_repo):
    browser, calls = _browser(portal_repo, ChargeOutcome("succeeded", Decimal("1"), "k"))
    browser.sign_in("c-subs")
    assert browser.post("/invoices/i-1/pay", {"attempt": "abc"}, token_from="/").status_code == 403
    assert calls == []
