"""distributors/_http.py and sandbox/_distributor.py: the one home of the distributors' token cache,
paging and error mapping, checked per provider against its documented error body
(../shared/reference/distributors_facts.md, pax8_facts.md)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from distributors import _http
from distributors.ingram import ingram_error_decoder
from distributors.pax8 import pax8_error_decoder
from distributors.tdsynnex import tdsynnex_error_decoder
from sandbox._distributor import TokenBook
from shared.errors import (
    AuthError,
    ConflictError,
    NotFoundError,
    RetriableError,
    ThrottledError,
    ValidationError,
)


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body if isinstance(body, bytes) else json.dumps(body).encode()
    r.reason = "Reason"
    r.headers.update(headers or {})
    return r


PAX8_422 = {"type": "UNPROCESSABLE_ENTITY", "message": "Invalid order", "instance": "/v1/orders", "status": 422,
            "details": [{"message": "quantity must be >= 1", "instance": "lineItems[0].quantity"}]}
TD_400 = {"error": "INVALID_ARGUMENT", "message": "renewalSetting is required", "code": 3,
          "details": [{"code": "MSFT_CR_033", "message": "renewalSetting must be auto-on or auto-off"}]}
CMP_404 = {"timeStamp": "2026-01-01T00:00:00Z", "status": 404, "message": "customer not found", "path": "/orders",
           "correlationId": "body-id"}


@pytest.mark.parametrize(("decoder", "status", "body", "headers", "kind", "message", "code"), [
    (pax8_error_decoder, 422, PAX8_422, {}, ValidationError,
     "Pax8: Invalid order: lineItems[0].quantity quantity must be >= 1", None),
    (pax8_error_decoder, 401, {"error": "access_denied", "error_description": "Unauthorized"}, {}, AuthError,
     "Pax8: Unauthorized", None),
    (tdsynnex_error_decoder, 400, TD_400, {}, ValidationError,
     "TD SYNNEX: renewalSetting is required: MSFT_CR_033 renewalSetting must be auto-on or auto-off", "MSFT_CR_033"),
    (tdsynnex_error_decoder, 400, {"error": "invalid_grant", "error_description": "Invalid refresh token"}, {},
     ValidationError, "TD SYNNEX: Invalid refresh token", ""),
    (ingram_error_decoder, 404, CMP_404, {"X-Correlation-ID": "header-id"}, NotFoundError,
     "Ingram Micro: customer not found (correlation id header-id, quote it to Ingram support)", None),
    (ingram_error_decoder, 409, CMP_404, {}, ConflictError,
     "Ingram Micro: customer not found (correlation id body-id, quote it to Ingram support)", None),
    (ingram_error_decoder, 400, b"not json", {}, ValidationError, "Ingram Micro: Reason", None),
])
def test_each_provider_keeps_its_own_message(decoder, status, body, headers, kind, message, code):
    error = decoder(_response(status, body, headers))
    assert type(error) is kind and error.message == message and error.status == status and error.code == code


@pytest.mark.parametrize("decoder", [pax8_error_decoder, tdsynnex_error_decoder, ingram_error_decoder])
def test_throttling_and_outages_are_retriable_with_the_servers_hint(decoder):
    throttled = decoder(_response(429, b"", {"Retry-After": "3"}))
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3
    down = decoder(_response(503, b"<html>down</html>"))
    assert isinstance(down, RetriableError) and not isinstance(down, ThrottledError) and down.retry_after is None


def test_a_cached_token_is_asked_for_again_only_near_its_end_or_after_a_401():
    now = [1000.0]
    asked: list[float] = []

    def fetch() -> tuple[str, float]:
        asked.append(now[0])
        return f"t{len(asked)}", 600.0

    token = _http.CachedToken(fetch, margin=300.0, clock=lambda: now[0])
    assert token() == token() == "t1"
    now[0] += 299
    assert token() == "t1"
    now[0] += 1  # 300 s before it ends
    assert token() == "t2"
    token.invalidate()
    assert token() == "t3" and len(asked) == 3


def test_a_short_lived_token_is_kept_at_least_the_floor():
    now = [0.0]
    token = _http.CachedToken(lambda: ("t", 40.0), margin=60.0, floor=30.0, clock=lambda: now[0])
    token()
    now[0] = 29.0
    assert token._until == 30.0 and token() == "t"


def test_offset_paging_sends_the_parameters_in_the_providers_order():
    td = _http.OffsetPaging(offset="pagination.offset", limit="pagination.limit", items="items",
                            total=("paginationResponse", "totalSize"), limit_first=True)
    cmp = _http.OffsetPaging(offset="offset", limit="limit", items="data", total=("pagination", "total"))
    assert list(td.query(5, 10).items()) == [("pagination.limit", 10), ("pagination.offset", 5)]
    assert list(cmp.query(5, 10).items()) == [("offset", 5), ("limit", 10)]


def _request(authorization: str) -> Request:
    return Request(EnvironBuilder(path="/", headers={"Authorization": authorization}).get_environ())


def test_the_sandboxes_take_only_live_bearer_tokens_they_issued():
    now = [0.0]
    book = TokenBook(clock=lambda: now[0])
    token = book.issue(100, prefix="at-")
    assert token.startswith("at-") and book.bearer(_request(f"Bearer {token}"))
    assert not book.bearer(_request(token)) and not book.bearer(_request("Bearer other"))
    now[0] = 101
    assert not book.bearer(_request(f"Bearer {token}")) and book.remaining(token) is None
    fresh = book.issue(100)
    book.clear()
    assert not book.bearer(_request(f"Bearer {fresh}"))
