"""The one date parser. Dataverse, Partner Center, Graph, Pax8, TD SYNNEX and the recon files all
send ISO 8601 (with 'Z', an offset, or nothing); Microsoft's portal recon files and price sheets also
use M/D/YYYY ("2/1/2019 12:00:00 AM"); Dataverse's webhook context uses WCF's /Date(ms)/.

`parse_datetime` gives an aware datetime (naive values are UTC; a date is midnight UTC).
`parse_date` gives the calendar date as written: '2026-03-31T23:00:00-05:00' is 31 March, not the UTC day.
`require_date` is parse_date for a value that must be there (message keys, CLI arguments).
`parse_wcf_date` reads /Date(1733011200000)/ and /Date(1733011200000+0100)/ (the instant is the ms).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y")
_WCF_DATE = re.compile(r"^/Date\((-?\d{1,20})([+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def require_date(value: Any, what: str = "date") -> date:
    """A date that must be present; ValueError naming `what` otherwise."""
    parsed = parse_date(value, strict=False)
    if parsed is None:
        raise ValueError(f"{what}: {value!r} is not a date (YYYY-MM-DD)")
    return parsed


def parse_wcf_date(text: str) -> datetime:
    """WCF JSON's /Date(ms)/ (Dataverse's RemoteExecutionContext); ValueError saying what is wrong
    ("is not a /Date(ms)/ value: ..." or "is a date out of range: ...") otherwise."""
    match = _WCF_DATE.match(text)
    if not match:
        raise ValueError(f"is not a /Date(ms)/ value: {text[:40]!r}")
    try:
        return _EPOCH + timedelta(milliseconds=int(match.group(1)))
    except OverflowError:
        raise ValueError(f"is a date out of range: {text[:40]!r}") from None


def iso(value: datetime | date | None) -> str | None:
    """Dataverse's wire form: UTC with 'Z' for a datetime, YYYY-MM-DD for a date."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()
