"""Decode Partner Center and Graph error bodies into shared.errors types.

Partner Center answers `{"code": 800037, "description": "...", "errorName": "...", "isRetryable": ...}`;
Graph answers `{"error": {"code": "...", "message": "..."}}`. Both end up as the same kinds, keyed
by HTTP status (shared.errors.error_for_status), with the provider's code and name kept.
"""

from __future__ import annotations

import requests

from shared.errors import IntegrationError, error_for_status
from shared.http import default_error_decoder, parse_retry_after
from shared.logging import redact


def decode_error(response: requests.Response) -> IntegrationError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not (isinstance(body, dict) and "description" in body and "error" not in body):
        return default_error_decoder(response)
    kind = error_for_status(response.status_code)
    return kind(
        redact(str(body.get("description") or response.reason)), status=response.status_code,
        code=str(body.get("code")) if body.get("code") is not None else None,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
        details={"errorName": body.get("errorName", ""), "requestId": response.headers.get("MS-RequestId", "")},
    )
