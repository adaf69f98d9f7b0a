"""The product's own Service Bus sender, identity-based (CSPB_SERVICEBUS__fullyQualifiedNamespace, no
connection string), against the AMQP stand-in: the azure-servicebus client gets a token from the Entra
stand-in, puts it on $cbs, and sends; the role is checked like Service Bus RBAC does."""

from __future__ import annotations

import pytest

from sandbox.servicebus.server import DATA_SENDER

pytestmark = pytest.mark.integration


@pytest.fixture
def sb_env(azure_env, servicebus, monkeypatch):
    from shared.config import reset_settings
    from shared.queue import reset_in_process_queues

    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "servicebus")
    monkeypatch.setenv("CSPB_SERVICEBUS__fullyQualifiedNamespace", "cspb-test.servicebus.windows.net")
    monkeypatch.setenv("CSPB_SERVICEBUS_ENDPOINT", servicebus.endpoint)
    reset_settings()
    reset_in_process_queues()
    yield azure_env, servicebus
    reset_in_process_queues()


def test_identity_based_send_with_a_token_and_duplicate_detection(sb_env):
    identity, servicebus = sb_env
    servicebus.state.grant(identity.app_oid(), DATA_SENDER)
    from shared.queue import ServiceBusQueue, get_queue

    queue = get_queue("cspb-provisioning")
    assert isinstance(queue, ServiceBusQueue)
    assert queue.send({"changelog": "c-1"}, message_id="cl-1") is True
    assert queue.send({"changelog": "c-1"}, message_id="cl-1") is True  # the queue drops it, silently
    stored = servicebus.state.queues["cspb-provisioning"]
    assert [m["message_id"] for m in stored] == ["cl-1"], servicebus.errors
    assert b'"changelog": "c-1"' in stored[0]["body"] or b'"changelog":"c-1"' in stored[0]["body"]
    assert servicebus.state.tokens_seen[0]["aud"] == "https://servicebus.azure.net"
    assert servicebus.state.tokens_seen[0]["oid"] == identity.app_oid()


def test_without_the_data_sender_role_the_send_fails_retriably(sb_env):
    from shared.errors import RetriableError
    from shared.queue import get_queue

    with pytest.raises(RetriableError):
        get_queue("cspb-provisioning").send({"x": 1}, message_id="m-1")
    _, servicebus = sb_env
    assert servicebus.state.queues["cspb-provisioning"] == []
