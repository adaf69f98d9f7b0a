"""Small OData helpers for the Dataverse Web API: key segments, literals, entity ids, JSON with
exact Decimals, query strings.

Key syntax (single and composite alternate keys):
https://learn.microsoft.com/power-apps/developer/data-platform/use-alternate-key-reference-record
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

API_PATH = "api/data/v9.2"

_GUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# Characters that must survive inside a path segment; everything else is percent-encoded so a key
# value with "/", "?", "#" or "%" cannot change the URL's shape.
_SEGMENT_SAFE = "()=',:-._~"


def literal(value: Any) -> str:
    """An OData literal for a key segment or a $filter. Strings double their single quotes."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int | Decimal | float):
        return str(value)
    if isinstance(value, datetime):
        moment: datetime = value.astimezone(UTC) if value.tzinfo is not None else value
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text.replace("'", "''") + "'"


def id_segment(entity_set: str, record_id: str | uuid.UUID) -> str:
    return f"{entity_set}({normalize_guid(record_id)})"


def key_segment(entity_set: str, key: Mapping[str, Any], *, encode: bool = True) -> str:
    """`accounts(accountnumber='A1')` or `cspb_provideraccounts(cspb_provider=1,cspb_externalid='x')`.
    encode=False gives the form used inside JSON bodies (`@odata.id`), where no URL escaping applies."""
    if not key:
        raise ValueError("an alternate key needs at least one column")
    inner = ",".join(f"{name}={literal(value)}" for name, value in key.items())
    return f"{entity_set}({quote(inner, safe=_SEGMENT_SAFE) if encode else inner})"


def normalize_guid(value: str | uuid.UUID) -> str:
    text = str(value).strip().strip("{}")
    if not _GUID_RE.fullmatch(text):
        raise ValueError(f"not a GUID: {text!r}")
    return text.lower()


def is_guid(text: object) -> bool:
    return isinstance(text, str) and _GUID_RE.fullmatch(text) is not None


def id_from_entity_url(url: str | None) -> str | None:
    """The GUID in an `OData-EntityId` header such as `.../accounts(7d5...)`."""
    if not url:
        return None
    found = _GUID_RE.findall(url)
    return found[-1].lower() if found else None


def bind(entity_set: str, record_id: str | uuid.UUID) -> str:
    """The value for `<nav>@odata.bind`."""
    return "/" + id_segment(entity_set, record_id)


# Short OR-filters keep URLs well under Dataverse's 32 KB limit.
FILTER_CHUNK = 25


def chunks(items: Sequence[str], size: int = FILTER_CHUNK) -> Iterator[Sequence[str]]:
    """`items` in slices of `size`, one OR-filter each."""
    for i in range(0, len(items), size):
        yield items[i:i + size]


def any_of(column: str, values: Iterable[object], *, quote_values: bool = True) -> str:
    """`column eq 'a' or column eq 'b' ...` (numbers and option values come out bare, as literal writes
    them); quote_values=False for lookups and ids, which compare with unquoted GUIDs. No parentheses:
    the caller adds them where the OR sits inside an `and`."""
    return " or ".join(f"{column} eq {literal(v) if quote_values else v}" for v in values)


def query_string(params: Mapping[str, Any]) -> str:
    """Encode with %20 rather than '+': OData servers read '+' in a $filter as a literal plus."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        parts.append(f"{quote(name, safe='$')}={quote(str(value), safe=_SEGMENT_SAFE + '$')}")
    return "&".join(parts)


_DECIMAL_MARK = "\u0000dec:"


def _encode_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{_DECIMAL_MARK}{value}"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return literal(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Dataverse")


_DECIMAL_TOKEN = re.compile(r'"\\u0000dec:(-?[0-9.Ee+-]+)"')


def dumps(body: Any) -> str:
    """JSON with Decimals written as exact numbers (json can't, and float() would round money)."""
    text = json.dumps(body, default=_encode_default, separators=(",", ":"))
    return _DECIMAL_TOKEN.sub(lambda m: m.group(1), text)


def loads(text: str | bytes) -> Any:
    """Numbers with a fraction become Decimal, so money read back is exact."""
    return json.loads(text, parse_float=Decimal)
