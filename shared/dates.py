"""The one date parser. Dataverse, Partner Center, Graph, Pax8 and the recon files all send ISO 8601
(with 'Z', an offset, or nothing); Microsoft's portal recon files also use M/D/YYYY.

`parse_datetime` gives an aware datetime (naive values are UTC; a date is midnight UTC).
`parse_date` gives the calendar date as written: '2026-03-31T23:00:00-05:00' is 31 March, not the UTC day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")


def parse_datetime(value: Any, *, strict: bool = True) -> datetime | None:
    """None for empty input; ValueError for unreadable text (or None when strict=False)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        if strict:
            raise ValueError(f"unreadable date/time {value!r}") from None
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_date(value: Any, *, strict: bool = True) -> date | None:
    """None for empty input; ValueError for unreadable text (or None when strict=False)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    head = str(value).strip().split("T")[0].split(" ")[0]
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    if strict:
        raise ValueError(f"unreadable date {value!r}")
    return None


def iso(value: datetime | date | None) -> str | None:
    """Dataverse's wire form: UTC with 'Z' for a datetime, YYYY-MM-DD for a date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()
