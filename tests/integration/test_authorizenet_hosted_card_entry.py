"""Authorize.Net's hosted forms against its sandbox, over plain HTTP: Accept Customer (add a card to the
customer profile) for the portal's card entry, and Accept Hosted (getHostedPaymentPageRequest: pay and save
the card); the X-ANET-Signature webhooks reach the real trigger."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import requests

from tests.plugins.payments import type_anet_card

pytestmark = pytest.mark.integration


@pytest.fixture
def anet(authorizenet_server, quick_retry):
    from payments.authorizenet import AuthorizeNetProcessor

    return AuthorizeNetProcessor(authorizenet_server.url + "/xml/v1/request.api", "sandbox", "sandbox-key",
                                 retry=quick_retry, timeout=5)


def _entry(anet, contract="CON-9"):
    customer = anet.create_customer("Contoso", "ap@contoso.example", "link-1-customer", reference=contract)
    form = anet.start_card_entry(customer_ref=customer, currency="USD", cancel_url="https://portal.example/x",
                                 success_url="https://portal.example/pay/t/done?session_id={CHECKOUT_SESSION_ID}",
                                 reference="link1", contract_number=contract, idempotency_key="entry-1")
    return customer, form


def test_accept_customer_saves_a_test_card_and_the_return_url_names_it(anet):
    from payments.base import StoredMethod

    customer, form = _entry(anet)
    assert form.method == "POST" and form.url.endswith("/customer/addPayment") and set(form.fields) == {"token"}
    # the same contract's profile is reused (E00039 names it)
    assert anet.create_customer("Contoso", "", "another-key", reference="CON-9") == customer
    done = type_anet_card(form, "4111 1111 1111 1111")
    assert done.status_code == 200 and "Your payment information was saved: Visa XXXX1111" in done.text
    back = re.search(r'id="continue" href="([^"]+)"', done.text).group(1)
    session_ref = back.split("session_id=", 1)[1]
    assert session_ref == f"{customer}.link1"
    saved = anet.finish_card_entry(session_ref, contract_number="CON-9")
    assert (saved.brand, saved.last4, saved.reference, saved.method.customer_ref) == ("Visa", "1111", "link1",
                                                                                       customer)
    charge = anet.charge(StoredMethod("authorizenet", customer, saved.method.method_ref), Decimal("10.00"), "USD",
                         "inv-1-charge")
    assert charge.status == "succeeded"
    # the page token works once
    assert "session has expired" in requests.post(form.url, data=form.fields, timeout=5).text


def test_declines_bad_cards_and_someone_elses_profile(anet):
    from shared.errors import AuthError

    customer, form = _entry(anet)
    declined = type_anet_card(form, "4007000000027", zip_code="46282")
    assert declined.status_code == 402 and "This transaction has been declined." in declined.text
    assert "The credit card number is invalid." in type_anet_card(form, "4242424242424242").text
    assert "The card code is invalid." in type_anet_card(form, "370000000000002", code="123").text
    assert "has expired" in type_anet_card(form, "5424000000000015", expiry="0120").text
    assert type_anet_card(form, "5424000000000015").status_code == 200
    with pytest.raises(AuthError):
        anet.finish_card_entry(f"{customer}.link1", contract_number="CON-OTHER")


def test_webhook_and_return_both_store_the_card_on_the_contract(authorizenet_hosted, dv, seed_invoice, tmp_path):
    from dataverse.stores.payment_methods import contract_by_number
    from payments import card_entry, links
    from shared.blobstore import LocalBlobStore

    ids = seed_invoice(provider="authorizenet", token="")
    store = LocalBlobStore(tmp_path / "blobs")
    token = links.create_token(ids["contract_number"])
    form = card_entry.start(token, success_url="https://portal.example/done?session_id={CHECKOUT_SESSION_ID}",
                            cancel_url="https://portal.example/cancel", dv=dv, store=store)
    done = type_anet_card(form, "2223000010309703")
    assert done.status_code == 200
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    (delivery,) = authorizenet_hosted.sandbox.webhooks.deliveries
    assert (delivery.event_type, delivery.status) == ("net.authorize.customer.paymentProfile.created", 200)
    stored = contract_by_number(dv, ids["contract_number"]).token
    assert re.fullmatch(r"\d+/\d+", stored)
    inbox = dv.get_by_key("cspb_inboxes", {"cspb_eventkey": f"authorizenet:{delivery.event_id}"})
    assert inbox["cspb_status"] == 3
    session_ref = re.search(r'session_id=([^"]+)"', done.text).group(1)
    saved = card_entry.finish(token, session_ref, dv=dv, store=store)
    assert saved.method.token() == stored and saved.last4 == "9703"


def test_accept_hosted_payment_page_takes_the_payment_and_saves_the_card(authorizenet_hosted, anet):
    customer = anet.create_customer("Contoso", "ap@contoso.example", "k", reference="CON-7")
    form = anet.start_hosted_payment(customer_ref=customer, amount=Decimal("124.80"), currency="USD",
                                     invoice_number="INV-0007", return_url="https://portal.example/invoices/7",
                                     cancel_url="https://portal.example/invoices/7?cancelled=1",
                                     idempotency_key="inv-7-hosted")
    assert form.url.endswith("/payment/payment")
    page = requests.post(form.url, data=form.fields, timeout=5)
    assert "Amount: $124.80" in page.text and "INV-0007" in page.text
    done = type_anet_card(form, "4111111111111111")
    assert done.status_code == 302 and done.headers["Location"] == "https://portal.example/invoices/7"
    (tx,) = [t for t in authorizenet_hosted.sandbox.transactions if t["invoiceNumber"] == "INV-0007"]
    assert tx["status"] == "capturedPendingSettlement" and tx["amount"] == Decimal("124.80")
    assert authorizenet_hosted.sandbox.webhooks.wait(15)
    kinds = sorted(d.event_type for d in authorizenet_hosted.sandbox.webhooks.deliveries)
    assert kinds == ["net.authorize.customer.paymentProfile.created", "net.authorize.payment.authcapture.created"]
    assert all(d.status == 200 for d in authorizenet_hosted.sandbox.webhooks.deliveries)
    assert anet.transaction_status(tx["transId"], Decimal("124.80"), "USD").status == "succeeded"
    assert anet.finish_card_entry(f"{customer}.", contract_number="CON-7").last4 == "1111"


def test_hosted_page_request_keys_follow_the_xsd(authorizenet_server):
    body = {"getHostedPaymentPageRequest": {"merchantAuthentication": {"name": "a", "transactionKey": "b"},
                                            "hostedPaymentSettings": {"setting": []},
                                            "transactionRequest": {"transactionType": "authCaptureTransaction",
                                                                   "amount": "5"}}}
    r = requests.post(authorizenet_server.url + "/xml/v1/request.api", json=body, timeout=5)
    answer = r.content.decode("utf-8-sig")
    assert r.content.startswith(b"\xef\xbb\xbf") and "E00003" in answer and "transactionRequest" in answer
