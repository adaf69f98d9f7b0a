"""Queue adapters: dedupe by message id and poison after max deliveries, on Azurite and in process."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import RetriableError
from shared.queue import InProcessQueue, StorageQueue, decode, drain, encode


def _queues(azurite: str):
    name = "q" + uuid.uuid4().hex[:12]
    return [InProcessQueue(name, max_deliveries=3), StorageQueue(azurite, name, max_deliveries=3)]


@pytest.mark.integration
@pytest.mark.parametrize("kind", [0, 1], ids=["in_process", "azurite"])
def test_duplicate_message_ids_are_enqueued_once(azurite: str, kind: int) -> None:
    queue = _queues(azurite)[kind]
    assert queue.send({"n": 1}, message_id="m-1") is True
    assert queue.send({"n": 1}, message_id="m-1") is False
    assert queue.send({"n": 2}, message_id="m-2") is True
    seen: list[dict] = []
    result = drain(queue, lambda m: seen.append(m.body))
    assert sorted(b["n"] for b in seen) == [1, 2]
    assert result.completed == 2
    assert queue.receive() == []


@pytest.mark.integration
@pytest.mark.parametrize("kind", [0, 1], ids=["in_process", "azurite"])
def test_retriable_failures_end_in_the_poison_queue(azurite: str, kind: int) -> None:
    queue = _queues(azurite)[kind]
    queue.send({"n": 1}, message_id="bad")
    queue.send({"n": 2}, message_id="good")
    attempts: dict[str, int] = {}

    def handler(msg) -> None:
        attempts[msg.id] = attempts.get(msg.id, 0) + 1
        if msg.id == "bad":
            raise RetriableError("provider down")

    result = drain(queue, handler)
    assert attempts == {"bad": 3, "good": 1}
    assert result.dead_lettered == 1 and result.completed == 1
    dead = queue.dead_letters()
    assert [m.id for m in dead] == ["bad"]
    assert "provider down" in dead[0].body["_deadletter_reason"]


def test_envelope_round_trip_and_plain_json() -> None:
    assert decode(encode({"a": 1}, "x")) == ("x", {"a": 1})
    mid, body = decode('{"id": "y", "changelogid": "c"}')
    assert mid == "y" and body["changelogid"] == "c"


def test_service_bus_message_carries_the_id_for_duplicate_detection() -> None:
    from shared.queue import ServiceBusQueue

    msg = ServiceBusQueue.build_message({"a": 1}, "change-42")
    assert msg.message_id == "change-42"


@pytest.mark.integration
def test_get_queue_follows_the_backend_setting(azurite: str, monkeypatch) -> None:
    from shared.config import reset_settings
    from shared.queue import get_queue, reset_in_process_queues

    monkeypatch.setenv("CSPB_QUEUE_BACKEND", "azurite")
    monkeypatch.setenv("CSPB_STORAGE_CONNECTION_STRING", azurite)
    reset_settings()
    reset_in_process_queues()
    name = "cfg" + uuid.uuid4().hex[:10]
    queue = get_queue(name)
    assert isinstance(queue, StorageQueue) and get_queue(name) is queue
    assert queue.send({"a": 1}, message_id="x") and not get_queue(name).send({"a": 1}, message_id="x")
    reset_in_process_queues()


@pytest.mark.integration
def test_a_failed_send_leaves_no_dedupe_marker_so_the_retry_is_enqueued(azurite: str, monkeypatch) -> None:
    from azure.core.exceptions import ServiceRequestError

    queue = StorageQueue(azurite, "q" + uuid.uuid4().hex[:12])
    real_send = queue._queue.send_message
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ServiceRequestError("connection reset by the chaos proxy")
        return real_send(*args, **kwargs)

    monkeypatch.setattr(queue._queue, "send_message", flaky)
    with pytest.raises(RetriableError):
        queue.send({"order": 1}, message_id="order-1")
    assert queue.send({"order": 1}, message_id="order-1") is True
    assert queue.send({"order": 1}, message_id="order-1") is False
    assert [m.body for m in queue.receive()] == [{"order": 1}]


@pytest.mark.integration
def test_a_marker_left_sending_by_a_crash_is_taken_over(azurite: str) -> None:
    queue = StorageQueue(azurite, "q" + uuid.uuid4().hex[:12])
    # A sender that died between claiming and sending leaves exactly this behind.
    queue._marker("order-2").upload_blob(b"", overwrite=False, metadata={"state": "sending"})
    assert queue.send({"order": 2}, message_id="order-2") is True
    assert queue.send({"order": 2}, message_id="order-2") is False
    assert len(queue.receive()) == 1
