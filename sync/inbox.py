"""Webhook in: verify the key, store the delivery in cspb_inbox (deduped on cspb_eventkey), enqueue.

Dataverse re-posts a delivery it thinks failed, with the same RemoteExecutionContext, so the
event key (from dataverse.webhook) identifies a delivery. The inbox row is created with
"create only" on its alternate key: the second delivery gets a conflict and is answered 202
without a second queue message. A crash between storing and enqueueing is healed by the next
delivery: a row still in Received is enqueued again (the queue drops the duplicate id).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.errors import ConflictError, NotFoundError, ValidationError
from shared.logging import get_logger
from shared.queue import PROVISIONING_QUEUE, Queue

log = get_logger(__name__)

INBOX_SET = "cspb_inboxes"
MAX_PAYLOAD_CHARS = 100_000


class InboxStatus:
    RECEIVED = 1
    QUEUED = 2
    PROCESSED = 3
    FAILED = 4
    DUPLICATE = 5


# Tables whose changes may need a provider call (change logs, subscription edits, MCA acceptances).
# Everything else is stored and ignored.
HANDLED_ENTITIES = frozenset({"cspb_licensechangelog", "cspb_subscription", "cspb_agreement"})
HANDLED_MESSAGES = frozenset({"create", "update"})


@dataclass(frozen=True)
class Delivery:
    status: int
    message: str
    event_key: str | None = None
    duplicate: bool = False
    queued: bool = False

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


def accept_delivery(body: bytes, headers: Mapping[str, str], params: Mapping[str, str] | None = None, *,
                    dv: Any = None, queue: Queue | None = None, settings: Any = None,
                    now: datetime | None = None) -> Delivery:
    from dataverse.webhook import SIZE_EXCEEDED_HEADER, event_key, parse_event

    if settings is None:
        from shared.config import get_settings

        settings = get_settings()
    if not verify_key(headers, params or {}, settings.webhook_key.reveal(), settings.webhook_key_header):
        return Delivery(401, "missing or wrong webhook key")
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = parse_event(body, size_exceeded=SIZE_EXCEEDED_HEADER in lowered)
    except ValidationError as exc:
        return Delivery(400, f"malformed webhook body: {exc.message}")
    if dv is None:
        from dataverse.client import DataverseClient

        dv = DataverseClient.from_settings(settings)
    if queue is None:
        from shared.queue import get_queue

        queue = get_queue(PROVISIONING_QUEUE, settings)
    key = event_key(event)
    entity, record_id = event.primary_entity_name, event.primary_entity_id
    handled = entity in HANDLED_ENTITIES and event.message_name.lower() in HANDLED_MESSAGES
    row = {
        "cspb_name": f"{event.message_name} {entity} {record_id}"[:100],
        "cspb_source": "dataverse",
        "cspb_messagename": event.message_name,
        "cspb_entityname": entity,
        "cspb_recordid": record_id,
        "cspb_payload": _payload_text(body),
        "cspb_status": InboxStatus.RECEIVED if handled else InboxStatus.PROCESSED,
        "cspb_error": None if handled else "not a table CSPBridge provisions from; stored only",
        "cspb_attempts": 0,
        "cspb_receivedon": (now or datetime.now(UTC)).isoformat(),
    }
    try:
        result = dv.upsert(INBOX_SET, {"cspb_eventkey": key}, row, mode="create_only")
        inbox_id = result.id
    except ConflictError:
        existing = dv.get_by_key(INBOX_SET, {"cspb_eventkey": key}, select=["cspb_inboxid", "cspb_status"])
        if existing is None or existing.get("cspb_status") != InboxStatus.RECEIVED or not handled:
            log.info("webhook delivery %s is a duplicate", key)
            return Delivery(202, "duplicate delivery ignored", key, duplicate=True)
        inbox_id = existing["cspb_inboxid"]
    if not handled:
        return Delivery(202, "stored; nothing to provision", key)
    message = {"eventKey": key, "inboxId": inbox_id, "entity": entity, "recordId": record_id,
               "message": event.message_name}
    queue.send(message, message_id=key)
    dv.update(INBOX_SET, inbox_id, {"cspb_status": InboxStatus.QUEUED})
    return Delivery(202, "accepted", key, queued=True)


def _payload_text(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    if len(text) <= MAX_PAYLOAD_CHARS:
        return text
    # A memo column holds 1M chars but we keep the inbox light; the record itself is re-read anyway.
    return json.dumps({"truncated": True, "head": text[:MAX_PAYLOAD_CHARS]})


def mark(dv: Any, inbox_id: str | None, status: int, error: str | None = None, attempts: int | None = None) -> None:
    if not inbox_id:
        return
    changes: dict[str, Any] = {"cspb_status": status, "cspb_error": error}
    if attempts is not None:
        changes["cspb_attempts"] = attempts
    dv.update(INBOX_SET, inbox_id, changes)


def begin_attempt(dv: Any, inbox_id: str | None) -> int | None:
    """Count one processing attempt on the inbox row and return the count. Counted before the work,
    so an attempt that crashes the worker still counts toward giving up."""
    if not inbox_id:
        return None
    try:
        row = dv.get(INBOX_SET, inbox_id, select=["cspb_attempts"])
    except NotFoundError:
        return None
    attempts = int(row.get("cspb_attempts") or 0) + 1
    dv.update(INBOX_SET, inbox_id, {"cspb_attempts": attempts})
    return attempts
