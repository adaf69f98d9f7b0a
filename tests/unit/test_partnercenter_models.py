"""Wire -> model parsing, idempotency key derivation and error decoding, without a server."""

from __future__ import annotations

import json
from decimal import Decimal

import requests

from partnercenter.client import request_id_for
from partnercenter.errors import decode_error
from partnercenter.models import CartLineItem, Invoice, Manifest, Subscription
from shared.errors import ThrottledError, ValidationError


def _response(status: int, body: dict, headers: dict | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r._content = json.dumps(body).encode()
    r.headers.update(headers or {})
    return r


def test_subscription_parses_nce_fields():
    sub = Subscription.from_wire({
        "id": "s1", "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", "quantity": 5, "unitType": "Licenses",
        "status": "active", "autoRenewEnabled": True, "billingCycle": "monthly", "termDuration": "P1Y",
        "creationDate": "2026-10-03T10:00:00Z", "commitmentEndDate": "2027-10-02T00:00:00Z",
        "productType": {"id": "OnlineServicesNCE"}, "attributes": {"etag": "3"}})
    assert (sub.product_id, sub.sku_id, sub.availability_id) == ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J")
    assert sub.creation_date.year == 2026 and sub.etag == "3" and not sub.is_azure_plan


def test_invoice_money_is_decimal_and_exact():
    invoice = Invoice.from_wire({"id": "G1", "totalCharges": 1234.1, "paidAmount": "0.10", "currencyCode": "EUR"})
    assert invoice.total_charges == Decimal("1234.1") and invoice.paid_amount == Decimal("0.10")


def test_manifest_keeps_the_sas_token_out_of_repr():
    manifest = Manifest.from_wire({"id": "m", "rootDirectory": "https://x/dir", "sasToken": "sv=1&sig=SECRET",
                                   "blobCount": 1, "blobs": [{"name": "a.json.gz", "partitionValue": "default"}]})
    assert "SECRET" not in repr(manifest)
    assert manifest.blob_url(manifest.blobs[0]) == "https://x/dir/a.json.gz?sv=1&sig=SECRET"


def test_cart_line_item_wire_shape():
    body = CartLineItem("P:S:A", 3, "P1Y", "annual", friendly_name="HQ").to_wire(0)
    assert body == {"id": 0, "catalogItemId": "P:S:A", "quantity": 3, "billingCycle": "annual",
                    "termDuration": "P1Y", "provisioningContext": {}, "friendlyName": "HQ"}


def test_request_ids_are_stable_guids_per_key_and_step():
    a, b = request_id_for("change-1", "cart"), request_id_for("change-1", "checkout")
    assert a == request_id_for("change-1", "cart") and a != b and len(a) == 36
    guid = "7d8f3c4e-8a4b-4c1e-9a57-2c1b2f0a9e11"
    assert request_id_for(guid) == guid


def test_partner_center_error_body_is_decoded():
    error = decode_error(_response(400, {"code": 800036, "description": "Seat reductions are only allowed",
                                         "errorName": "QuantityReductionNotAllowed"}))
    assert isinstance(error, ValidationError) and error.code == "800036"
    assert error.details["errorName"] == "QuantityReductionNotAllowed"
    throttled = decode_error(_response(429, {"error": {"code": "TooMany", "message": "slow down"}},
                                       {"Retry-After": "2"}))
    assert isinstance(throttled, ThrottledError) and throttled.retry_after == 2.0
