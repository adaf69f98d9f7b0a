"""The Dataverse webhook trigger: 401 without the key, 400 on malformed bodies, 202 + inbox + queue,
duplicates deduped."""

from __future__ import annotations

import json
import uuid

import azure.functions as func
import pytest

from functions.dataverse_webhook import dataverse_webhook
from shared.queue import PROVISIONING_QUEUE, get_queue, reset_in_process_queues

KEY = "test-webhook-key-123"


@pytest.fixture
def webhook_env(monkeypatch, dv_server):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_WEBHOOK_KEY", KEY)
    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "local")
    reset_settings()
    reset_in_process_queues()
    yield
    reset_in_process_queues()


def context(entity: str = "cspb_licensechangelog", record_id: str | None = None, request_id: str | None = None) -> dict:
    record_id = record_id or str(uuid.uuid4())
    return {
        "MessageName": "Create", "PrimaryEntityName": entity, "PrimaryEntityId": record_id,
        "CorrelationId": str(uuid.uuid4()), "RequestId": request_id or str(uuid.uuid4()), "Depth": 1, "Stage": 40,
        "Mode": 1, "InputParameters": [{"key": "Target", "value": {
            "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "LogicalName": entity, "Id": record_id,
            "Attributes": [{"key": "cspb_newquantity", "value": 5}]}}],
        "PreEntityImages": [], "PostEntityImages": [], "OutputParameters": [],
    }


def call(body: bytes | dict, headers: dict | None = None, params: dict | None = None) -> func.HttpResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    req = func.HttpRequest("POST", "/api/webhooks/dataverse", headers=headers or {}, params=params or {}, body=raw)
    return dataverse_webhook.build().get_user_function()(req)


@pytest.mark.parametrize("headers", [{}, {"x-functions-key": "wrong"}, {"x-cspb-webhook-key": ""}])
def test_wrong_or_missing_key_is_401(webhook_env, headers) -> None:
    assert call(context(), headers).status_code == 401


def test_malformed_bodies_are_400_with_the_reason(webhook_env) -> None:
    bad = call(b"not json", {"x-functions-key": KEY})
    assert bad.status_code == 400 and "not JSON" in json.loads(bad.get_body())["status"]
    missing = {k: v for k, v in context().items() if k != "PrimaryEntityId"}
    res = call(missing, {"x-functions-key": KEY})
    assert res.status_code == 400 and "PrimaryEntityId" in json.loads(res.get_body())["status"]


@pytest.mark.parametrize("auth", [({"x-functions-key": KEY}, None), ({"X-CSPB-Webhook-Key": KEY}, None),
                                  ({}, {"code": KEY})])
def test_accepted_delivery_is_stored_and_enqueued_once(webhook_env, dv, auth) -> None:
    headers, params = auth
    body = context()
    first = call(body, headers, params)
    assert first.status_code == 202
    again = call(body, headers, params)
    assert again.status_code == 202 and json.loads(again.get_body())["duplicate"] is True
    rows = list(dv.list("cspb_inboxes", select=["cspb_eventkey", "cspb_status", "cspb_recordid", "cspb_payload"]))
    assert len(rows) == 1 and rows[0]["cspb_status"] == 2 and rows[0]["cspb_recordid"] == body["PrimaryEntityId"]
    queue = get_queue(PROVISIONING_QUEUE)
    messages = queue.receive()
    assert len(messages) == 1 and messages[0].body["recordId"] == body["PrimaryEntityId"]


def test_other_tables_are_stored_but_not_enqueued(webhook_env, dv) -> None:
    res = call(context(entity="account"), {"x-functions-key": KEY})
    assert res.status_code == 202
    assert get_queue(PROVISIONING_QUEUE).receive() == []
    assert [r["cspb_status"] for r in dv.list("cspb_inboxes", select=["cspb_status"])] == [3]
