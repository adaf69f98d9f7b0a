"""`cspbridge portal --memory` gets paid for real: the Stripe sandbox runs in-process on a free port
(portal.memory_payments.local_stripe), a customer adds a card on its hosted page and pays an invoice,
3-D Secure included, with the data in memory (no Dataverse)."""

from __future__ import annotations

import re
from dataclasses import replace
from decimal import Decimal

import pytest
import requests

from tests.plugins.payments import type_card
from tests.plugins.portal import PortalBrowser

pytestmark = pytest.mark.integration


@pytest.fixture
def memory_site():
    from portal.memory_payments import local_stripe
    from portal.seed import seeded_repository
    from portal.wiring import memory_portal
    from shared.config import get_settings

    stripe = local_stripe()
    try:
        repo = seeded_repository()
        settings = replace(get_settings(), portal_base_url="http://127.0.0.1:7110/portal")
        yield PortalBrowser(memory_portal(settings, repo, processor=stripe.processor)), repo, stripe
    finally:
        stripe.stop()


def _local(url: str) -> str:
    return url.split("/portal", 1)[1]


def _attempt(browser, path: str) -> str:
    return re.search(r'name="attempt" value="([^"]+)"', browser.get(path).get_data(as_text=True)).group(1)


def test_a_new_card_added_on_the_hosted_page_shows_on_file(memory_site):
    browser, repo, stripe = memory_site
    browser.sign_in("c-admin")
    assert "None" in browser.get("/payment").get_data(as_text=True)
    pay_path = _local(browser.post("/payment/k-contoso/link", token_from="/payment").headers["Location"])
    hosted = browser.post(pay_path, token_from=pay_path)
    assert hosted.status_code == 303 and hosted.headers["Location"].startswith(stripe.url + "/c/pay/cs_test_")
    assert type_card(hosted.headers["Location"], "4000 0000 0000 0002").status_code == 402  # declined, stays
    done = browser.get(_local(type_card(hosted.headers["Location"], "4242 4242 4242 4242").headers["Location"]))
    assert done.status_code == 200 and "Visa card ending in 4242 is saved" in done.get_data(as_text=True)
    assert repo.contracts["k-contoso"].has_payment_method
    assert "On file" in browser.get("/payment").get_data(as_text=True)
    assert browser.post(pay_path, token_from=pay_path).status_code == 400  # the link works once


def test_pay_with_a_new_card_then_the_receipt(memory_site):
    browser, repo, stripe = memory_site
    browser.sign_in("f-admin")
    path = "/invoices/i-fab"
    hosted = browser.post(path + "/pay", {"attempt": _attempt(browser, path), "method": "new"}, token_from=path)
    assert hosted.status_code == 303 and "/c/pay/cs_test_" in hosted.headers["Location"]
    paid = browser.get(_local(type_card(hosted.headers["Location"], "4000 0025 0000 3155").headers["Location"]),
                       follow_redirects=True)
    text = paid.get_data(as_text=True)
    assert paid.request.path == "/portal" + path and "Gracias: se han pagado 1428,00" in text.replace(".", ""), text
    assert repo.invoices["i-fab"].balance == 0 and str(repo.invoices["i-fab"].balance) == "0.00"
    history = text.split('id="payment-history"', 1)[1]
    assert "Pagado" in history and "pi_" in history
    receipt = re.search(r'href="/portal(/invoices/i-fab/receipts/[^"]+)"', text).group(1)
    assert "Recibo de pago" in browser.get(receipt).get_data(as_text=True)


def test_the_seeded_card_on_file_pays_and_a_replay_charges_once(memory_site):
    browser, repo, stripe = memory_site
    browser.sign_in("f-admin")
    path = "/invoices/i-fab"
    attempt = _attempt(browser, path)
    first = browser.post(path + "/pay", {"attempt": attempt}, token_from=path).get_data(as_text=True)
    assert "Gracias: se han pagado" in first
    again = browser.post(path + "/pay", {"attempt": attempt}, token_from=path).get_data(as_text=True)
    assert "Gracias: se han pagado" in again  # the double-click finds the first attempt
    intents = stripe.server.app.sandbox.intents.values()
    assert [i["amount"] for i in intents if i["status"] == "succeeded"] == [142800]  # EUR in cents, once


def test_3d_secure_on_a_charge_brings_the_customer_back_to_the_invoice_paid(memory_site):
    browser, repo, stripe = memory_site
    browser.sign_in("f-admin")
    path = "/invoices/i-fab"
    pay_path = _local(browser.post("/payment/k-fabrikam/link", token_from="/payment").headers["Location"])
    browser.get(_local(type_card(browser.post(pay_path, token_from=pay_path).headers["Location"],
                                 "4000002760003184").headers["Location"]))
    page = browser.post(path + "/pay", {"attempt": _attempt(browser, path)}, token_from=path).get_data(as_text=True)
    assert "3-D Secure" in page and repo.invoices["i-fab"].balance == Decimal("1428.00")
    link = re.search(r'id="authenticate" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    back = requests.get(link, params={"result": "succeed"}, allow_redirects=False, timeout=5)
    assert _local(back.headers["Location"]).startswith(path + "?payment=pay-")
    text = browser.get(_local(back.headers["Location"])).get_data(as_text=True)
    assert "Gracias: se han pagado" in text and repo.invoices["i-fab"].balance == 0
