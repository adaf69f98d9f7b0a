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
                                              b'"instance":"/public/v1/orders","details":[{"instance":"quantity","message":"must be >= 1"}]}'))
    assert isinstance(error, ValidationError) and "quantity must be >= 1" in error.message
    assert isinstance(pax8_error_decoder(_response(404, b'{"message":"nope"}')), NotFoundError)
    assert isinstance(pax8_error_decoder(_response(401, b'{"error":"access_denied"}')), AuthError)
    throttled = pax8_error_decoder(_response(429, b"", {"Retry-After": "3"}))
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 3


def test_subscription_mapping_uses_cspb_codes():
    adapter = Pax8Adapter("http://127.0.0.1:1", "id", "secret")
    sub = adapter._subscription({"id": "s", "companyId": "c", "productId": "p", "quantity": 3,
                                 "status": "PendingAutomated", "billingTerm": "Annual", "price": 15.39,
                                 "partnerCost": 11.39, "startDate": "2026-01-01T00:00:00Z",
                                 "commitmentTerm": {"id": "t", "term": "3-Year", "endDate": "2028-12-31T00:00:00Z"}})
    assert (sub.status, sub.billing_term, sub.commitment_term) == ("Pending", "P1Y", "P3Y")
    # partnerCost is what the partner pays; price is the customer's.
    assert sub.unit_cost == Decimal("11.39") and sub.unit_price == Decimal("15.39")
    assert sub.start_date.isoformat() == "2026-01-01" and sub.commitment_end_date.isoformat() == "2028-12-31"


def test_dates_come_in_both_shapes():
    from datetime import UTC, datetime

    from distributors.pax8 import parse_when

    assert parse_when("2020-12-01") == datetime(2020, 12, 1, tzinfo=UTC)
    assert parse_when("2020-12-01T13:20:13.153-0700") == datetime(2020, 12, 1, 20, 20, 13, 153000, tzinfo=UTC)
    assert parse_when("2023-08-11T11:33:12Z").tzinfo is not None
    with pytest.raises(ValidationError):
        parse_when("yesterday")


def test_missing_credentials_are_refused():
    with pytest.raises(AuthError):
        Pax8Adapter("http://127.0.0.1:1", "", "")
