"""The Partner Center adapter is a mapping over partnercenter.client.PartnerCenterClient: seat changes
PATCH the full Subscription resource with a stable MS-RequestId, purchases go through the client's
exactly-once cart + checkout, and the adapter itself speaks no Partner Center HTTP."""

from __future__ import annotations

import inspect
import io
import json

import pytest

from partnercenter.client import request_id_for

pytestmark = pytest.mark.integration


class Recorder:
    """WSGI middleware in front of the sandbox: keeps every request's method, path, headers and body."""

    def __init__(self, app):
        self.app = app
        self.calls: list[dict] = []

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")}
        self.calls.append({"method": environ["REQUEST_METHOD"], "path": environ["PATH_INFO"], "headers": headers,
                           "body": json.loads(body) if body else None})
        return self.app(environ, start_response)


@pytest.fixture
def recorded(tmp_path):
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from sandbox._server import RunningServer
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.server import build_app
    from shared.auth import static_token
    from tests.plugins.sync import fast_retry

    seed_to_dir(tmp_path / "pc", customers=2, seed=7, usage_rows=0)
    recorder = Recorder(build_app(tmp_path / "pc"))
    server = RunningServer(recorder, port=0).start()
    try:
        yield recorder, PartnerCenterAdapter(server.url, static_token("t"), retry=fast_retry(), timeout=5)
    finally:
        server.stop()


def test_seat_change_patches_the_full_subscription_with_a_stable_request_id(recorded) -> None:
    recorder, pc = recorded
    company = next(iter(pc.list_companies()))
    sub = next(s for s in pc.list_subscriptions(company.id) if s.status == "Active" and s.quantity >= 1
               and not s.product_id.startswith("DZH"))
    changed = pc.change_quantity(sub.id, sub.quantity + 2, "change-log-42", company_id=company.id)
    assert changed.quantity == sub.quantity + 2 and changed.id == sub.id

    patches = [c for c in recorder.calls if c["method"] == "PATCH"]
    assert len(patches) == 1
    body = patches[0]["body"]
    # Partner Center wants the whole resource, not {"quantity": n}.
    for field in ("id", "offerId", "billingCycle", "termDuration", "status", "autoRenewEnabled"):
        assert field in body, field
    assert body["quantity"] == sub.quantity + 2
    assert patches[0]["headers"]["ms-requestid"] == request_id_for("change-log-42")
    assert patches[0]["headers"]["ms-correlationid"]

    # The same change again (a redelivery) sends the same id, and Partner Center replays it.
    pc.change_quantity(sub.id, sub.quantity + 2, "change-log-42", company_id=company.id)
    again = [c for c in recorder.calls if c["method"] == "PATCH"][-1]
    assert again["headers"]["ms-requestid"] == patches[0]["headers"]["ms-requestid"]
    assert pc.get_subscription(sub.id, company_id=company.id).quantity == sub.quantity + 2


def test_purchase_uses_the_clients_exactly_once_cart_and_checkout(recorded) -> None:
    from sandbox.partnercenter.catalog import LICENSE_SKUS

    recorder, pc = recorded
    company = next(iter(pc.list_companies()))
    product = f"{LICENSE_SKUS[0][0]}:{LICENSE_SKUS[0][1]}"  # no availability: the adapter looks it up
    first = pc.place_order(company.id, product, 3, "P1M", "P1Y", "order-key-1")
    second = pc.place_order(company.id, product, 3, "P1M", "P1Y", "order-key-1")
    assert first.order_id == second.order_id and first.subscription_ids == second.subscription_ids
    posts = [c for c in recorder.calls if c["method"] == "POST"]
    carts = [c for c in posts if c["path"].endswith("/carts")]
    checkouts = [c for c in posts if c["path"].endswith("/checkout")]
    assert {c["headers"]["ms-requestid"] for c in carts} == {request_id_for("order-key-1", "cart")}
    assert {c["headers"]["ms-requestid"] for c in checkouts} == {request_id_for("order-key-1", "checkout")}
    line = carts[0]["body"]["lineItems"][0]
    assert line["catalogItemId"].startswith(product + ":") and line["termDuration"] == "P1Y"
    assert line["billingCycle"] == "monthly" and line["quantity"] == 3


def test_the_adapter_speaks_no_partner_center_http_itself() -> None:
    from distributors import partnercenter_adapter

    source = inspect.getsource(partnercenter_adapter)
    assert "v1/" not in source and "MS-RequestId\":" not in source
    assert ".request(" not in source and "get_json(" not in source and "post_json(" not in source
