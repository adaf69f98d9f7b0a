"""Dataverse error bodies -> shared.errors types.

Dataverse answers errors as `{"error": {"code": "0x80040217", "message": "..."}}`; service
protection limits come back as 429 with a Retry-After header (seconds):
https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shared.errors import IntegrationError, NotFoundError, error_for_status
from shared.http import parse_retry_after
from shared.logging import redact

# Codes worth naming: callers may want to tell "row missing" from "table missing".
OBJECT_DOES_NOT_EXIST = "0x80040217"
DUPLICATE_RECORD = "0x80040237"
CONCURRENCY_VERSION_MISMATCH = "0x80060882"
SERVICE_PROTECTION_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326"})


def error_from_parts(status: int, body: Any, headers: Mapping[str, str] | None = None,
                     reason: str | None = None) -> IntegrationError:
    """Shared by plain responses and the parts of a $batch response."""
    code = None
    message = reason or f"HTTP {status}"
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping):
            code = err.get("code")
            message = err.get("message") or message
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    kind = error_for_status(status)
    retry_after = parse_retry_after((headers or {}).get("Retry-After"))
    return kind(redact(str(message)), status=status, code=str(code) if code else None, retry_after=retry_after,
                details={"body": body} if isinstance(body, Mapping) else {})


def decode_error(response: requests.Response) -> IntegrationError:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return error_from_parts(response.status_code, body, response.headers, response.reason)


def is_missing_row(error: IntegrationError) -> bool:
    """404 for a row, as opposed to a 404 for an unknown entity set (a bug in our code)."""
    return isinstance(error, NotFoundError) and error.code in (OBJECT_DOES_NOT_EXIST, None)
