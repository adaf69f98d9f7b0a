"""Small helpers for reading and writing Dataverse rows in the sync jobs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def parse_dt(value: Any) -> datetime | None:
    """Dataverse and Partner Center send ISO 8601 ('Z' or an offset); dates become midnight UTC."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def iso(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def bind(entity_set: str, row_id: str) -> str:
    """The value of a `<lookup>@odata.bind` property."""
    return f"/{entity_set}({row_id})"
