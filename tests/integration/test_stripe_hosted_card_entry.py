"""Hosted card entry through Stripe Checkout (setup mode) against the Stripe sandbox: its hosted page is
driven over plain HTTP here (tests/browser types into it with Chromium)."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture
def stripe(stripe_server, quick_retry):
    from payments.stripe_adapter import StripeProcessor

    return StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5)


def _session(stripe, success="https://portal.example/pay/done?session_id={CHECKOUT_SESSION_ID}"):
    customer = stripe.create_customer("Contoso", "ap@contoso.example", "cust-1")
    form = stripe.start_card_entry(customer_ref=customer, currency="EUR", success_url=success,
                                   cancel_url="https://portal.example/pay/cancelled", reference="link-1",
                                   contract_number="CON-1", idempotency_key="entry-1")
    return customer, form


def _submit(url: str, number: str, *, expiry: str = "12 / 34", cvc: str = "123", name: str = "Ann Lee"):
    return requests.post(url, data={"cardNumber": number, "cardExpiry": expiry, "cardCvc": cvc, "billingName": name},
                         allow_redirects=False, timeout=5)


def test_4242_saves_a_card_and_redirects_with_the_session_id(stripe):
    from payments.base import StoredMethod

    customer, form = _session(stripe)
    assert form.method == "GET" and "/c/pay/cs_test_" in form.url
    page = requests.get(form.url, timeout=5)
    assert page.status_code == 200 and 'id="cardNumber"' in page.text and "TEST MODE" in page.text
    done = _submit(form.url, "4242 4242 4242 4242")
    assert done.status_code == 303
    session_id = parse_qs(urlsplit(done.headers["Location"]).query)["session_id"][0]
    assert form.url.endswith(session_id)
    saved = stripe.finish_card_entry(session_id)
    assert (saved.brand, saved.last4, saved.reference, saved.contract_number) == ("visa", "4242", "link-1", "CON-1")
    assert saved.method.customer_ref == customer and saved.method.method_ref.startswith("pm_")
    charge = stripe.charge(StoredMethod("stripe", customer, saved.method.method_ref), Decimal("12.50"), "EUR", "c-1")
    assert charge.status == "succeeded" and charge.amount == Decimal("12.50")
    # a completed session sends the browser straight back
    assert requests.get(form.url, allow_redirects=False, timeout=5).status_code == 303


def test_declines_and_bad_numbers_stay_on_the_page(stripe):
    from payments.base import CardEntryIncomplete

    _customer, form = _session(stripe)
    declined = _submit(form.url, "4000000000000002")
    assert declined.status_code == 402 and "Your card was declined." in declined.text
    assert 'value="4000000000000002"' in declined.text  # the form keeps what was typed
    assert "Your card number is invalid." in _submit(form.url, "4242424242424241").text
    assert "used a non test card" in _submit(form.url, "4111111111111111").text
    assert "in the past" in _submit(form.url, "4242424242424242", expiry="01 / 20").text
    assert "security code is incomplete" in _submit(form.url, "4242424242424242", cvc="1").text
    session_id = form.url.rsplit("/", 1)[1]
    with pytest.raises(CardEntryIncomplete) as raised:
        stripe.finish_card_entry(session_id)
    assert raised.value.status == "open"


def test_3d_secure_card_asks_for_a_challenge_then_needs_the_customer_again_off_session(stripe):
    from payments.base import StoredMethod

    customer, form = _session(stripe)
    challenge = _submit(form.url, "4000 0027 6000 3184")
    assert challenge.status_code == 200 and "3D Secure 2 Test Page" in challenge.text
    setup_id = re.search(r'name="setup_intent" value="([^"]+)"', challenge.text).group(1)
    failed = requests.post(form.url + "/authenticate", data={"setup_intent": setup_id, "result": "fail"}, timeout=5,
                           allow_redirects=False)
    assert failed.status_code == 402 and "unable to authenticate" in failed.text
    challenge = _submit(form.url, "4000 0027 6000 3184")
    setup_id = re.search(r'name="setup_intent" value="([^"]+)"', challenge.text).group(1)
    done = requests.post(form.url + "/authenticate", data={"setup_intent": setup_id, "result": "complete"},
                         timeout=5, allow_redirects=False)
    assert done.status_code == 303
    saved = stripe.finish_card_entry(form.url.rsplit("/", 1)[1])
    assert saved.last4 == "3184"
    # "always authenticate": an off-session charge comes back for the customer to confirm
    charge = stripe.charge(StoredMethod("stripe", customer, saved.method.method_ref), Decimal("5"), "EUR", "c-3ds")
    assert charge.status == "requires_action" and "/_sandbox/3ds/" in charge.action_url


def test_setup_mode_needs_a_currency_with_dynamic_methods(stripe_server):
    r = requests.post(stripe_server.url + "/v1/checkout/sessions", headers={"Authorization": "Bearer sk_test_1"},
                      data={"mode": "setup", "success_url": "https://x.example/s"}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["param"] == "currency"
    r = requests.post(stripe_server.url + "/v1/checkout/sessions", headers={"Authorization": "Bearer sk_test_1"},
                      data={"mode": "setup", "currency": "usd"}, timeout=5)
    assert r.status_code == 400 and r.json()["error"]["param"] == "success_url"


def test_webhook_stores_the_card_when_the_customer_never_comes_back(stripe_hosted, dv, seed_invoice, tmp_path):
    """checkout.session.completed reaches the Stripe webhook trigger (signed, deduped by the inbox) and
    stores the card; the redirect that follows finds it already done and says so."""
    from dataverse.stores.payment_methods import contract_by_number
    from payments import card_entry, links
    from shared.blobstore import LocalBlobStore

    ids = seed_invoice(token="")
    store = LocalBlobStore(tmp_path / "blobs")
    token = links.create_token(ids["contract_number"])
    form = card_entry.start(token, success_url="https://portal.example/done?session_id={CHECKOUT_SESSION_ID}",
                            cancel_url="https://portal.example/cancel", dv=dv, store=store)
    contract = contract_by_number(dv, ids["contract_number"])
    assert contract.token == ""
    assert _submit(form.url, "4242424242424242").status_code == 303
    assert stripe_hosted.sandbox.webhooks.wait(15)
    (delivery,) = [d for d in stripe_hosted.sandbox.webhooks.deliveries if d.event_type == "checkout.session.completed"]
    assert delivery.status == 200
    session_id = form.url.rsplit("/", 1)[1]
    # The trigger used the default blob store; the webhook path saved the card on the contract.
    saved_token = contract_by_number(dv, ids["contract_number"]).token
    assert saved_token.startswith("cus_") and "/pm_" in saved_token
    inbox = dv.get_by_key("cspb_inboxes", {"cspb_eventkey": f"stripe:{_event_id(stripe_hosted, session_id)}"})
    assert inbox["cspb_status"] == 3
    # The redirect after it (own blob store here) stores the same card; the link is then used up.
    saved = card_entry.finish(token, session_id, dv=dv, store=store)
    assert saved.method.token() == saved_token
    with pytest.raises(Exception, match="already used"):
        card_entry.start(token, success_url="https://x/{CHECKOUT_SESSION_ID}", cancel_url="https://x/c", dv=dv,
                         store=store)


def _event_id(stripe_hosted, session_id: str) -> str:
    return next(d.event_id for d in stripe_hosted.sandbox.webhooks.deliveries
                if d.event_type == "checkout.session.completed")
