"""Payment links (signed, expiring, single-use) and Stripe webhook signatures."""

from __future__ import annotations

import json
import time

import pytest

from payments import links, webhooks
from shared.blobstore import LocalBlobStore
from shared.errors import AuthError, ConflictError, ValidationError
from shared.signing import b64url

EVENT = json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                    "data": {"object": {"id": "pi_1"}}}).encode()


def test_link_round_trip_and_single_use(tmp_path):
    url = links.create_payment_link("CON-1")
    token = url.rsplit("/", 1)[1]
    claims = links.verify_token(token)
    assert claims.contract_number == "CON-1"
    store = LocalBlobStore(tmp_path)
    links.consume(claims, store)
    with pytest.raises(ConflictError):
        links.consume(links.verify_token(token), store)


def test_tampered_and_expired_links_are_refused():
    token = links.create_token("CON-1", ttl_seconds=60)
    body, sig = token.split(".")
    forged = b64url(json.dumps({"c": "CON-2", "exp": 9999999999, "id": "x"}).encode())
    with pytest.raises(AuthError):
        links.verify_token(f"{forged}.{sig}")
    with pytest.raises(AuthError):
        links.verify_token(token, now=time.time() + 120)
    with pytest.raises(ValidationError):
        links.verify_token("garbage")


def test_webhook_signature_ok():
    header = webhooks.sign(EVENT, "whsec_test")
    assert webhooks.verify(EVENT, header, "whsec_test")["type"] == "payment_intent.succeeded"


def test_webhook_rolled_secret_has_two_signatures():
    header = webhooks.sign(EVENT, "old") + "," + webhooks.sign(EVENT, "whsec_test").split(",")[1]
    assert webhooks.verify(EVENT, header, "whsec_test")["id"] == "evt_1"


@pytest.mark.parametrize("header", [None, "", "t=abc,v1=00", "v1=00", "t=1"])
def test_webhook_malformed_headers(header):
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify(EVENT, header, "whsec_test")


def test_webhook_wrong_secret_tampered_body_and_replay():
    header = webhooks.sign(EVENT, "whsec_test")
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify(EVENT, header, "other")
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify(EVENT + b" ", header, "whsec_test")
    old = webhooks.sign(EVENT, "whsec_test", timestamp=int(time.time()) - 301)
    with pytest.raises(webhooks.SignatureError):
        webhooks.verify(EVENT, old, "whsec_test")


def test_webhook_body_must_be_an_event():
    body = b"[1,2]"
    with pytest.raises(ValidationError):
        webhooks.verify(body, webhooks.sign(body, "s"), "s")
