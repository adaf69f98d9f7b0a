"""Authorize.Net webhook: X-ANET-Signature checked (401 when wrong), malformed bodies 400, deliveries
deduped through the inbox, and the payment's state confirmed with getTransactionDetails before it moves."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import azure.functions as func
import pytest

from payments import invoice_records as records
from payments.authorizenet import AuthorizeNetProcessor
from payments.authorizenet_webhook import sign

pytestmark = pytest.mark.integration
KEY = "A1B2C3D4" * 16  # 128 hex characters, like a real Signature Key


@pytest.fixture
def env(monkeypatch, dv_server, authorizenet_server):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_AUTHORIZENET_URL", authorizenet_server.url + "/xml/v1/request.api")
    monkeypatch.setenv("CSPB_AUTHORIZENET_SIGNATURE_KEY", KEY)
    reset_settings()
    return authorizenet_server.app.sandbox


def _held_payment(dv, seed_invoice, sandbox, trans_id="60012345678") -> dict:
    ids = seed_invoice(provider="authorizenet", autocharge=True)
    invoice = records.load_invoice(dv, ids["invoice"])
    records.write_payment(dv, invoice, f"pay|{trans_id}", amount=Decimal(ids["total"]), processor="authorizenet",
                          status=records.PAYMENT_PENDING, processor_payment_id=trans_id)
    sandbox.transactions.append({"transId": trans_id, "invoiceNumber": invoice.number, "amount": ids["total"],
                                 "account": "", "at": time.time(), "status": "FDSPendingReview"})
    return ids


def _notification(trans_id: str, notification_id: str = "d0e8e7fe-c3e7-4add-a480-27bc5ce28a1d") -> bytes:
    return json.dumps({"notificationId": notification_id, "eventType": "net.authorize.payment.fraud.approved",
                       "eventDate": "2026-12-01T10:00:00.0Z", "webhookId": "0550f061-59a1-4f1b-8d79-5a7d6f1f3c2c",
                       "payload": {"responseCode": 1, "authAmount": 84.0, "entityName": "transaction",
                                   "id": trans_id}}).encode()


def _post(body: bytes, signature: str | None):
    from functions.authorizenet_webhook import authorizenet_webhook

    headers = {"X-ANET-Signature": signature} if signature else {}
    req = func.HttpRequest("POST", "/api/webhooks/authorizenet", headers=headers, body=body)
    response = authorizenet_webhook.build().get_user_function()(req)
    return response.status_code, json.loads(response.get_body())


def test_a_held_charge_settles_from_the_webhook_once_confirmed(env, dv, seed_invoice):
    ids = _held_payment(dv, seed_invoice, env)
    body = _notification("60012345678")

    # Still under review at Authorize.Net: the payment stays pending whatever the body says.
    assert _post(body, sign(body, KEY)) == (200, {"status": "unchanged (FDSPendingReview)"})
    env.transactions[-1]["status"] = "capturedPendingSettlement"
    second = _notification("60012345678", "a4c2f9f6-0000-4000-8000-000000000002")
    assert _post(second, sign(second, KEY)) == (200, {"status": "applied (capturedPendingSettlement)"})
    assert dv.get("invoices", ids["invoice"], select=["cspb_paymentstatus"])["cspb_paymentstatus"] == 3
    # The same notification again is a duplicate in the inbox, and nothing changes.
    assert _post(second, sign(second, KEY)) == (200, {"status": "duplicate"})
    rows = list(dv.list("cspb_inboxes", select=["cspb_eventkey", "cspb_status", "cspb_source"]))
    assert sorted(r["cspb_eventkey"] for r in rows if r["cspb_source"] == "authorizenet") == [
        "authorizenet:a4c2f9f6-0000-4000-8000-000000000002", "authorizenet:d0e8e7fe-c3e7-4add-a480-27bc5ce28a1d"]


def test_a_declined_review_fails_the_payment_with_the_reason(env, dv, seed_invoice):
    ids = _held_payment(dv, seed_invoice, env, trans_id="60099999999")
    env.transactions[-1]["status"] = "declined"
    body = _notification("60099999999")
    assert _post(body, sign(body, KEY))[1]["status"] == "applied (declined)"
    payment = dv.get_by_key("cspb_payments", {"cspb_paymentkey": "pay|60099999999"})
    assert payment["cspb_status"] == records.PAYMENT_FAILED and "declined" in payment["cspb_error"]
    assert dv.get("invoices", ids["invoice"], select=["cspb_paymentstatus"])["cspb_paymentstatus"] == 4


def test_wrong_or_missing_signatures_are_401_and_malformed_bodies_400(env):
    body = _notification("1")
    assert _post(body, None)[0] == 401
    assert _post(body, sign(body, "other-key"))[0] == 401
    assert _post(body, "md5=abc")[0] == 401
    # Hex-decoded keys are the other reported convention: refused unless the setting asks for it.
    assert _post(body, sign(body, KEY, "hex"))[0] == 401
    status, reply = _post(b"{not json", sign(b"{not json", KEY))
    assert status == 400 and "not JSON" in reply["error"]
    bare = json.dumps({"eventType": "x"}).encode()
    assert _post(bare, sign(bare, KEY))[0] == 400


def test_hex_key_encoding_is_a_setting(env, monkeypatch, dv, seed_invoice):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_AUTHORIZENET_SIGNATURE_KEY_ENCODING", "hex")
    reset_settings()
    _held_payment(dv, seed_invoice, env, trans_id="60011111111")
    body = _notification("60011111111")
    assert _post(body, sign(body, KEY, "hex"))[0] == 200
    assert _post(body, sign(body, KEY, "text"))[0] == 401


def test_the_signature_compare_ignores_hex_case(env, dv, seed_invoice):
    _held_payment(dv, seed_invoice, env, trans_id="60022222222")
    body = _notification("60022222222")
    assert _post(body, sign(body, KEY).lower())[0] == 200
    assert AuthorizeNetProcessor  # the processor the handler builds from settings is the real client
