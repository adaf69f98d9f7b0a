"""Pax8 wire -> DTO mapping and error decoding, without a server."""

from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from distributors.pax8 import Pax8Adapter, pax8_error_decoder
from shared.errors import AuthError, NotFoundError, ThrottledError, ValidationError


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = body
    r.headers.update(headers or {"Content-Type": "application/json"})
    return r


def test_error_envelope_is_decoded_with_details():
    error = pax8_error_decoder(_response(422, b'{"type":"Unprocessable Entity","message":"bad order","status":422,'
                                              b'"details":[{"field":"quantity","message":"must be >= 1"}]}'))
    assert isinstance(error, ValidationError) and "quantity must be >= 1" in error.message
    assert isinstance(pax8_error_decoder(_response(404, b'{"message":"nope"}')), NotFoundError)
    assert isinstance(pax8_error_decoder(_response(401, b'{"error":"access_denied"}')), AuthError)
    throttled = pax8_error_decoder(_response(429, b"", {"Retry-After": "3"}))
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3


def test_subscription_mapping_uses_cspb_codes():
    adapter = Pax8Adapter("http://127.0.0.1:1", "id", "secret")
    sub = adapter._subscription({"id": "s", "companyId": "c", "productId": "p", "quantity": 3,
                                 "status": "PendingAutomated", "billingTerm": "Annual", "commitmentTermMonths": 36,
                                 "price": 12.5, "startDate": "2026-01-01T00:00:00Z"})
    assert (sub.status, sub.billing_term, sub.commitment_term) == ("Pending", "P1Y", "P3Y")
    assert sub.unit_cost == Decimal("12.5") and sub.start_date.isoformat() == "2026-01-01"


def test_missing_credentials_are_refused():
    with pytest.raises(AuthError):
        Pax8Adapter("http://127.0.0.1:1", "", "")
