"""The Stripe webhook trigger: 400 on malformed or unsigned bodies, 200 + inbox row + payment
settled on a good delivery, duplicates answered without re-applying."""

from __future__ import annotations

import json
from decimal import Decimal

import azure.functions as func
import pytest

from functions.payment_webhook import payment_webhook
from payments import invoice_records as records
from payments import service
from payments.webhooks import sign

SECRET = "whsec_test_secret"


@pytest.fixture
def env(monkeypatch, dv_server):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_STRIPE_WEBHOOK_SECRET", SECRET)
    reset_settings()


def _call(body: bytes, signature: str | None) -> func.HttpResponse:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    req = func.HttpRequest("POST", "/api/webhooks/stripe", headers=headers, body=body)
    return payment_webhook.build().get_user_function()(req)


def test_unsigned_bad_and_malformed_are_400(env):
    body = b'{"id": "evt_1", "object": "event", "type": "payment_intent.succeeded"}'
    assert _call(body, None).status_code == 400
    assert _call(body, sign(body, "wrong-secret")).status_code == 400
    assert _call(b"not json", sign(b"not json", SECRET)).status_code == 400


def test_good_delivery_settles_payment_once(env, dv, seed_invoice):
    ids = seed_invoice(token="cus_1/pm_1")
    key = service.payment_key(ids["invoice"], "autocharge")
    records.write_payment(dv, records.load_invoice(dv, ids["invoice"]), key, amount=Decimal("124.80"),
                          processor="stripe", status=records.PAYMENT_PENDING)
    body = json.dumps({"id": "evt_42", "object": "event", "type": "payment_intent.succeeded",
                       "data": {"object": {"id": "pi_42", "metadata": {"cspb_paymentkey": key}}}}).encode()
    first = _call(body, sign(body, SECRET))
    assert first.status_code == 200 and json.loads(first.get_body())["status"] == "applied"
    second = _call(body, sign(body, SECRET))
    assert json.loads(second.get_body())["status"] == "duplicate"
    assert dv.get("invoices", ids["invoice"])["cspb_paymentstatus"] == 3
    inbox = dv.get_by_key("cspb_inboxes", {"cspb_eventkey": "stripe:evt_42"})
    assert inbox["cspb_status"] == 3 and inbox["cspb_attempts"] == 1
