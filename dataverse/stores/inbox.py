"""cspb_inbox rows: every webhook delivery, keyed by its event key (cspb_eventkey) so a redelivery is
found, not stored twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet, InboxStatus

ROW_COLUMNS = ["cspb_inboxid", "cspb_eventkey", "cspb_status", "cspb_entityname", "cspb_recordid",
               "cspb_messagename", "cspb_attempts", "modifiedon", "cspb_receivedon"]


@dataclass(frozen=True)
class NewDelivery:
    """What a delivery's row holds when it is first stored."""

    name: str
    source: str
    message_name: str
    entity: str
    record_id: str
    payload: str
    status: int
    error: str | None
    received_on: datetime


@dataclass(frozen=True)
class InboxRow:
    id: str
    event_key: str | None
    status: int | None
    entity: str | None
    record_id: str | None
    message_name: str | None
    attempts: int
    modified_on: str | None  # as Dataverse wrote it: message ids are made from it


def _row(row: Mapping[str, Any]) -> InboxRow:
    return InboxRow(id=str(row["cspb_inboxid"]), event_key=row.get("cspb_eventkey"), status=row.get("cspb_status"),
                    entity=row.get("cspb_entityname"), record_id=row.get("cspb_recordid"),
                    message_name=row.get("cspb_messagename"), attempts=int(row.get("cspb_attempts") or 0),
                    modified_on=row.get("modifiedon"))


def create_delivery(dv: DataverseClient, event_key: str, delivery: NewDelivery) -> str:
    """Store a delivery, create-only on its event key: raises ConflictError when it is already stored."""
    return dv.upsert(EntitySet.INBOXES, {"cspb_eventkey": event_key}, {
        "cspb_name": delivery.name[:100],
        "cspb_source": delivery.source,
        "cspb_messagename": delivery.message_name,
        "cspb_entityname": delivery.entity,
        "cspb_recordid": delivery.record_id,
        "cspb_payload": delivery.payload,
        "cspb_status": int(delivery.status),
        "cspb_error": delivery.error,
        "cspb_attempts": 0,
        "cspb_receivedon": delivery.received_on.isoformat(),
    }, mode="create_only").id


def find(dv: DataverseClient, event_key: str) -> InboxRow | None:
    """The stored delivery with this event key (id, status and attempts), or None."""
    row = dv.get_by_key(EntitySet.INBOXES, {"cspb_eventkey": event_key},
                        select=["cspb_inboxid", "cspb_status", "cspb_attempts"])
    return None if row is None else _row(row)


def get(dv: DataverseClient, inbox_id: str) -> InboxRow:
    """One row by id; raises NotFoundError when there is none."""
    return _row(dv.get(EntitySet.INBOXES, inbox_id, select=ROW_COLUMNS))


def set_status(dv: DataverseClient, inbox_id: str, status: int, *, note: str | None = None) -> None:
    """The row's status, and its error text only when a note is given."""
    changes: dict[str, Any] = {"cspb_status": int(status)}
    if note is not None:
        changes["cspb_error"] = note
    dv.update(EntitySet.INBOXES, inbox_id, changes)


def record_outcome(dv: DataverseClient, inbox_id: str, status: int, error: str | None,
                   attempts: int | None = None) -> None:
    """Status and error (None clears it), and the attempt count when given."""
    changes: dict[str, Any] = {"cspb_status": int(status), "cspb_error": error}
    if attempts is not None:
        changes["cspb_attempts"] = attempts
    dv.update(EntitySet.INBOXES, inbox_id, changes)


def attempts_of(dv: DataverseClient, inbox_id: str) -> int:
    """The attempts counted so far; raises NotFoundError when the row is gone."""
    return int(dv.get(EntitySet.INBOXES, inbox_id, select=["cspb_attempts"]).get("cspb_attempts") or 0)


def set_attempts(dv: DataverseClient, inbox_id: str, attempts: int) -> None:
    dv.update(EntitySet.INBOXES, inbox_id, {"cspb_attempts": attempts})


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failed_since(dv: DataverseClient, since: datetime) -> list[InboxRow]:
    """Failed rows received since `since`, oldest first."""
    rows = dv.list(EntitySet.INBOXES, select=ROW_COLUMNS, orderby="cspb_receivedon asc",
                   filter=f"cspb_status eq {int(InboxStatus.FAILED)} and cspb_receivedon ge {_utc(since)}")
    return [_row(r) for r in rows]


def waiting_since_before(dv: DataverseClient, cutoff: datetime) -> list[InboxRow]:
    """Rows Received or Queued whose last write is before `cutoff`, least recently written first."""
    rows = dv.list(EntitySet.INBOXES, select=ROW_COLUMNS, orderby="modifiedon asc",
                   filter=f"(cspb_status eq {int(InboxStatus.RECEIVED)} or cspb_status eq {int(InboxStatus.QUEUED)}) "
                          f"and modifiedon lt {_utc(cutoff)}")
    return [_row(r) for r in rows]


# ---- payment processors' webhooks (Stripe events, Authorize.Net notifications) ---------------------

@dataclass(frozen=True)
class ProcessorDelivery:
    """A processor's webhook delivery: applied at once, not queued, so it has no record to re-read."""

    name: str
    source: str  # stripe | authorizenet
    message_name: str
    payload: str
    received_on: datetime


def receive_processor_delivery(dv: DataverseClient, event_key: str, delivery: ProcessorDelivery) -> bool:
    """Store the delivery as Received on its event key, counting one more attempt. False, storing nothing,
    when that event was already processed: the caller answers it as a duplicate."""
    key = {"cspb_eventkey": event_key}
    row = dv.get_by_key(EntitySet.INBOXES, key, select=["cspb_inboxid", "cspb_status", "cspb_attempts"])
    if row is not None and row.get("cspb_status") == InboxStatus.PROCESSED:
        return False
    dv.upsert(EntitySet.INBOXES, key, {
        "cspb_name": delivery.name[:100], "cspb_source": delivery.source, "cspb_messagename": delivery.message_name,
        "cspb_payload": delivery.payload, "cspb_status": int(InboxStatus.RECEIVED),
        "cspb_attempts": int((row or {}).get("cspb_attempts") or 0) + 1,
        "cspb_receivedon": delivery.received_on.isoformat()})
    return True


def settle_processor_delivery(dv: DataverseClient, event_key: str, error: str | None = None) -> None:
    """Processed (no error), or Failed with the error."""
    status = InboxStatus.PROCESSED if error is None else InboxStatus.FAILED
    dv.upsert(EntitySet.INBOXES, {"cspb_eventkey": event_key}, {"cspb_status": int(status), "cspb_error": error})
