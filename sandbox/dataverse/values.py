"""Column kinds, value checks on write, and JSON with exact decimals (Dataverse sends money as
JSON numbers, never strings)."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

_KINDS = {
    "string": "string", "memo": "string", "nvarchar": "string", "ntext": "string",
    "int": "int", "integer": "int", "bigint": "int", "picklist": "picklist", "state": "picklist",
    "status": "picklist", "decimal": "decimal", "double": "decimal", "float": "decimal",
    "money": "money", "bool": "bool", "boolean": "bool", "bit": "bool",
    "datetime": "datetime", "date": "date", "dateonly": "date",
    "uniqueidentifier": "guid", "guid": "guid", "primarykey": "guid",
    "lookup": "lookup", "customer": "lookup", "owner": "lookup",
}


class BadValue(ValueError):
    pass


def kind_of(type_name: str) -> str:
    return _KINDS.get(type_name.lower(), "string")


def parse_datetime(text: str) -> datetime:
    raw = text.strip()
    if len(raw) == 10:
        return datetime.fromisoformat(raw).replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def coerce(kind: str, value: Any, column: str) -> Any:
    """Checks a written value and returns its stored form (JSON-safe; decimals as strings)."""
    if value is None:
        return None
    try:
        if kind == "string":
            if not isinstance(value, str):
                raise BadValue
            return value
        if kind in ("int", "picklist"):
            if isinstance(value, bool) or not isinstance(value, int | Decimal) or int(value) != value:
                raise BadValue
            return int(value)
        if kind in ("decimal", "money"):
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
                raise BadValue
            return str(Decimal(str(value)))
        if kind == "bool":
            if not isinstance(value, bool):
                raise BadValue
            return value
        if kind == "datetime":
            return format_datetime(parse_datetime(str(value)))
        if kind == "date":
            return parse_datetime(str(value)).date().isoformat()
        if kind == "guid":
            if not isinstance(value, str) or not GUID_RE.fullmatch(value):
                raise BadValue
            return value.lower()
    except (BadValue, ValueError, InvalidOperation, TypeError):
        pass
    else:
        return value
    raise BadValue(f"Cannot convert the literal '{value}' to the expected type of '{column}' ({kind}).")


def typed(kind: str, stored: Any) -> Any:
    """Stored form -> the Python value filters and sorting compare."""
    if stored is None:
        return None
    if kind in ("decimal", "money"):
        return Decimal(stored)
    if kind in ("datetime", "date"):
        return parse_datetime(stored)
    return stored


def wire(kind: str, stored: Any) -> Any:
    """Stored form -> the JSON value sent to clients."""
    if stored is None:
        return None
    if kind in ("decimal", "money"):
        return Decimal(stored)
    return stored


_MARK = "\u0000dec:"
_TOKEN = re.compile(r'"\\u0000dec:(-?[0-9.Ee+-]+)"')


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_MARK}{value}"
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def dumps(body: Any) -> str:
    return _TOKEN.sub(lambda m: m.group(1), json.dumps(body, default=_default))


def loads(raw: bytes | str) -> Any:
    return json.loads(raw, parse_float=Decimal)
