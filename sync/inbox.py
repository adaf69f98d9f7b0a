"""Webhook in: verify the key, store the delivery in the inbox (deduped on its event key), enqueue.

Dataverse re-posts a delivery it thinks failed, with the same RemoteExecutionContext, so the
event key (from dataverse.webhook) identifies a delivery. The inbox row is created with
"create only" on its alternate key: the second delivery gets a conflict and is answered 202
without a second queue message. A crash between storing and enqueueing is healed by the next
delivery: a row still in Received is enqueued again (the queue drops the duplicate id).
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from dataverse.stores import inbox as rows
from dataverse.stores.inbox import InboxRow, NewDelivery
from dataverse.tables import InboxStatus as InboxStatus  # re-exported: callers name sync.inbox.InboxStatus
from dataverse.tables import Table
from shared.errors import ConflictError, IntegrationError, NotFoundError, RetriableError, ValidationError
from shared.logging import get_logger
from shared.queue import PROVISIONING_QUEUE, Queue

if TYPE_CHECKING:  # imported where used: the intake path stays light
    from dataverse.client import DataverseClient
    from dataverse.webhook import DataverseEvent
    from shared.config import Settings

log = get_logger(__name__)

MAX_PAYLOAD_CHARS = 100_000


# Tables whose changes may need a provider call (change logs, subscription edits, MCA acceptances).
# Everything else is stored and ignored.
HANDLED_ENTITIES = frozenset({Table.LICENSE_CHANGE_LOG, Table.SUBSCRIPTION, Table.AGREEMENT, Table.ACTION_REQUEST})
HANDLED_MESSAGES = frozenset({"create", "update"})


@dataclass(frozen=True)
class Delivery:
    status: int
    message: str
    event_key: str | None = None
    duplicate: bool = False
    queued: bool = False
    retry_after: int | None = None  # seconds, sent as Retry-After with a 503

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.message}
        if self.event_key:
            out["eventKey"] = self.event_key
        if self.duplicate:
            out["duplicate"] = True
        return out


def verify_key(headers: Mapping[str, str], params: Mapping[str, str], expected: str, header_name: str) -> bool:
    """x-functions-key, the configured header, or `?code=` (Dataverse's "WebhookKey" auth type)."""
    if not expected:
        return False
    lowered = {k.lower(): v for k, v in headers.items()}
    candidates = [lowered.get("x-functions-key"), lowered.get(header_name.lower()), params.get("code")]
    return any(c is not None and hmac.compare_digest(c.encode(), expected.encode()) for c in candidates)


# How long the intake may take before it answers 503: Dataverse gives up on a webhook after 60 s
# and then retries, so a fast "try again" beats a slow success, and a worker thread is not held.
INTAKE_DEADLINE_SECONDS = 4.0
RETRY_AFTER_SECONDS = 30
_intake_pool: ThreadPoolExecutor | None = None
_intake_pool_lock = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    global _intake_pool
    with _intake_pool_lock:
        if _intake_pool is None:
            _intake_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="webhook-intake")
        return _intake_pool


def intake_client(settings: Settings) -> DataverseClient:
    """A Dataverse client for the webhook path: short timeouts and one retry, so storage being down
    is a 503 within seconds, not a minute of backoff."""
    from dataverse.client import DataverseClient
    from shared.auth import token_provider_for
    from shared.http import RetryPolicy

    retry = RetryPolicy(max_attempts=2, base_seconds=0.2, cap_seconds=0.5, max_retry_after=1.0)
    return DataverseClient(settings.dataverse_url, token_provider_for(settings, settings.dataverse_url),
                           retry=retry, timeout=1.5)


def accept_delivery(body: bytes, headers: Mapping[str, str], params: Mapping[str, str] | None = None, *,
                    dv: DataverseClient | None = None, queue: Queue | None = None, settings: Settings | None = None,
                    now: datetime | None = None, deadline: float = INTAKE_DEADLINE_SECONDS) -> Delivery:
    """Check the key and the body (401, 400, 413), store the delivery and enqueue it (202). With storage
    or the queue failing or slow, 503 with Retry-After within `deadline` seconds: the row is left
    Received (or not written), and Dataverse's retry of the same delivery completes it."""
    from dataverse.webhook import SIZE_EXCEEDED_HEADER, BodyTooLarge, parse_event

    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    if not verify_key(headers, params or {}, settings.webhook_key.reveal(), settings.webhook_key_header):
        return Delivery(401, "missing or wrong webhook key")
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = parse_event(body, size_exceeded=SIZE_EXCEEDED_HEADER in lowered)
    except BodyTooLarge as exc:
        return Delivery(413, f"webhook body too large: {exc.message}")
    except ValidationError as exc:
        return Delivery(400, f"malformed webhook body: {exc.message}")
    future = _pool().submit(_store_and_enqueue, event, body, dv, queue, settings, now)
    try:
        return future.result(timeout=deadline)
    except FutureTimeout:
        log.warning("webhook intake did not finish within %.1f s; answering 503", deadline)
        return Delivery(503, f"storage is slow; try again (no answer within {deadline:.0f} s)",
                        retry_after=RETRY_AFTER_SECONDS)
    except RetriableError as exc:
        log.warning("webhook intake: storage or queue unavailable: %s", exc)
        return Delivery(503, f"storage or queue unavailable; try again: {exc.message}",
                        retry_after=int(exc.retry_after) if exc.retry_after else RETRY_AFTER_SECONDS)


def _store_and_enqueue(event: DataverseEvent, body: bytes, dv: DataverseClient | None, queue: Queue | None, settings: Settings,
                       now: datetime | None) -> Delivery:
    from dataverse.webhook import event_key

    if dv is None:
        dv = intake_client(settings)
    key = event_key(event)
    entity, record_id = event.primary_entity_name, event.primary_entity_id
    handled = entity in HANDLED_ENTITIES and event.message_name.lower() in HANDLED_MESSAGES
    delivery = NewDelivery(
        name=f"{event.message_name} {entity} {record_id}", source="dataverse", message_name=event.message_name,
        entity=entity, record_id=record_id, payload=_payload_text(body),
        status=InboxStatus.RECEIVED if handled else InboxStatus.PROCESSED,
        error=None if handled else "not a table CSPBridge provisions from; stored only",
        received_on=now or datetime.now(UTC))
    try:
        inbox_id = rows.create_delivery(dv, key, delivery)
    except ConflictError:
        existing = rows.find(dv, key)
        if existing is None or not handled or not _not_yet_picked_up(existing):
            log.info("webhook delivery %s is a duplicate", key)
            return Delivery(202, "duplicate delivery ignored", key, duplicate=True)
        inbox_id = existing.id
    if not handled:
        return Delivery(202, "stored; nothing to provision", key)
    message = {"eventKey": key, "inboxId": inbox_id, "entity": entity, "recordId": record_id,
               "message": event.message_name}
    if queue is None:
        from shared.queue import get_queue

        # After the row is stored: with the queue down, the row waits Received for the retry or the sweeper.
        queue = get_queue(PROVISIONING_QUEUE, settings, intake=True)
    if not enqueue(dv, queue, inbox_id, message, message_id=key, revert_to=InboxStatus.RECEIVED):
        log.info("webhook delivery %s is a duplicate (already on the queue)", key)
        return Delivery(202, "duplicate delivery ignored", key, duplicate=True)
    return Delivery(202, "accepted", key, queued=True)


def _not_yet_picked_up(row: InboxRow) -> bool:
    """Received, or Queued with no attempt yet: the earlier delivery may have failed to enqueue. Sending
    again with the same message id is safe: the queue drops it if the first send went through."""
    return row.status == InboxStatus.RECEIVED or (row.status == InboxStatus.QUEUED and not row.attempts)


def enqueue(dv: DataverseClient, queue: Queue, inbox_id: str, message: dict[str, Any], *, message_id: str,
            revert_to: int, note: str | None = None) -> bool:
    """Mark the row Queued, then send. Marked first so a fast worker's Processed is never overwritten
    by our Queued; a failed send puts the row back (best effort: if that write fails too, the row
    stays Queued and the sweeper re-queues it). Raises RetriableError when the send failed."""
    rows.set_status(dv, inbox_id, InboxStatus.QUEUED, note=note)
    try:
        return queue.send(message, message_id=message_id)
    except RetriableError:
        try:
            rows.set_status(dv, inbox_id, revert_to)
        except IntegrationError as exc:
            log.warning("inbox %s: send failed and the row could not be put back: %s", inbox_id, exc)
        raise


def _payload_text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    if len(text) <= MAX_PAYLOAD_CHARS:
        return text
    # A memo column holds 1M chars but we keep the inbox light; the record itself is re-read anyway.
    return json.dumps({"truncated": True, "head": text[:MAX_PAYLOAD_CHARS]})


def mark(dv: DataverseClient, inbox_id: str | None, status: int, error: str | None = None, attempts: int | None = None) -> None:
    if not inbox_id:
        return
    rows.record_outcome(dv, inbox_id, status, error, attempts)


def begin_attempt(dv: DataverseClient, inbox_id: str | None) -> int | None:
    """Count one processing attempt on the inbox row and return the count. Counted before the work,
    so an attempt that crashes the worker still counts toward giving up."""
    if not inbox_id:
        return None
    try:
        attempts = rows.attempts_of(dv, inbox_id) + 1
    except NotFoundError:
        return None
    rows.set_attempts(dv, inbox_id, attempts)
    return attempts


# ---- replay and sweep ---------------------------------------------------------------------------

DEFAULT_STUCK_MINUTES = 30


@dataclass
class InboxRun:
    """What a replay or sweep did, by inbox row."""

    requeued: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"requeued": len(self.requeued), "skipped": len(self.skipped),
                "skippedRows": [{"id": i, "reason": r} for i, r in self.skipped[:50]]}


def _message_for(row: InboxRow) -> dict[str, Any]:
    return {"eventKey": row.event_key, "inboxId": row.id, "entity": row.entity, "recordId": row.record_id,
            "message": row.message_name}


def _fresh_id(row: InboxRow, why: str) -> str:
    """A message id per row state: the same stuck or failed state re-queued twice (two sweeps racing, a
    double click on Replay) is one message; after the row moves on, a new state gets a new id."""
    return f"{row.event_key or row.id}|{why}|{row.modified_on or ''}"


def _requeue(dv: DataverseClient, queue: Queue, row: InboxRow, why: str, note: str, out: InboxRun) -> None:
    if row.entity not in HANDLED_ENTITIES or not row.record_id:
        out.skipped.append((row.id, "not a delivery CSPBridge provisions from"))
        return
    enqueue(dv, queue, row.id, _message_for(row), message_id=_fresh_id(row, why),
            revert_to=int(row.status or InboxStatus.FAILED), note=note)
    out.requeued.append(row.id)


def replay(dv: DataverseClient, queue: Queue, *, inbox_id: str | None = None, since: datetime | None = None,
           now: datetime | None = None) -> InboxRun:
    """Queue failed inbox rows again: one row by id (the `cspbridge inbox replay --id` and the Dynamics
    Replay command), or every Failed row received since `since`. The worker re-reads the record and
    its change log, so a replay never orders twice what already went through."""
    if (inbox_id is None) == (since is None):
        raise ValidationError("replay takes exactly one of an inbox id or a since time")
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = InboxRun()
    if inbox_id is not None:
        try:
            row = rows.get(dv, inbox_id)
        except NotFoundError:
            raise ValidationError(f"no inbox row with id {inbox_id}") from None
        if row.status != InboxStatus.FAILED:
            out.skipped.append((inbox_id, f"status is {_status_name(row.status)}, not Failed"))
            return out
        found = [row]
    else:
        assert since is not None
        found = rows.failed_since(dv, since)
    for row in found:
        # Attempts start over: the worker gives up after the queue's deliveries, counted from here.
        rows.set_attempts(dv, row.id, 0)
        _requeue(dv, queue, row, "replay", f"replayed {stamp}", out)
    return out


def sweep(dv: DataverseClient, queue: Queue, *, minutes: int = DEFAULT_STUCK_MINUTES, now: datetime | None = None) -> InboxRun:
    """Re-queue rows that sat Received or Queued without progress (no write to the row) for `minutes`:
    a send lost between storing and enqueueing, a worker killed mid-message past the queue's
    redeliveries. A row still waiting behind a long backlog gets a second message; the worker's
    state checks make that a no-op."""
    if minutes < 1:
        raise ValidationError("the sweeper's minutes must be positive")
    now = now or datetime.now(UTC)
    out = InboxRun()
    for row in rows.waiting_since_before(dv, now - timedelta(minutes=minutes)):
        _requeue(dv, queue, row, "sweep",
                 f"re-queued by the sweeper: no progress for {minutes} min", out)
    return out


def _status_name(code: int | None) -> str:
    names: dict[int | None, str] = {int(v): v.name.title() for v in InboxStatus}
    return names.get(code, str(code))


def sweep_job(settings: Settings | None = None, *, dv: DataverseClient | None = None, queue: Queue | None = None) -> dict[str, Any]:
    """The timer's job: the configured Dataverse and provisioning queue."""
    from dataverse.client import client_or_default
    from shared.queue import get_queue

    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    result = sweep(client_or_default(dv), queue if queue is not None else get_queue(PROVISIONING_QUEUE, settings),
                   minutes=settings.inbox_stuck_minutes)
    if result.requeued:
        log.warning("inbox sweeper re-queued %d stuck row(s)", len(result.requeued))
    return result.as_dict()
