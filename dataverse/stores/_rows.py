"""Small helpers the stores share for building rows."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Any


class Keep(Enum):
    """A write record's "leave this column as it is", where None would mean "clear it"."""

    KEEP = "keep"


KEEP = Keep.KEEP


def bind(entity_set: str, row_id: str) -> str:
    """The value of a `<lookup>@odata.bind` property (the id as stored; odata.bind also checks it is a GUID)."""
    return f"/{entity_set}({row_id})"


def as_text(value: Any) -> str:
    """A text column as read: a missing value is the empty string."""
    return "" if value is None else str(value)


def as_money(value: Any) -> Decimal:
    """A money column as read: a missing or empty value is zero."""
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def midnight(day: date) -> str:
    """A date column's value (and a $filter bound on one): the day's UTC midnight, 'Z' form."""
    return f"{date(day.year, day.month, day.day).isoformat()}T00:00:00Z"
