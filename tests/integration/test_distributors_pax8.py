"""Pax8 adapter against the Pax8 sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from distributors.base import DistributorAdapter, idempotency_key
from distributors.pax8 import Pax8Adapter
from shared.errors import AuthError, NotFoundError, ValidationError

pytestmark = pytest.mark.integration


def _company(pax8: Pax8Adapter, name: str) -> str:
    return next(c.id for c in pax8.list_companies() if c.name == name)


def _product(pax8: Pax8Adapter, name: str) -> str:
    return next(p.id for p in pax8.list_products() if p.name == name)


def test_is_a_distributor_adapter(pax8):
    assert isinstance(pax8, DistributorAdapter)


def test_reads_catalog_companies_and_subscriptions(pax8):
    companies = list(pax8.list_companies())
    assert {c.domain for c in companies} >= {"contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"}
    basic = _product(pax8, "Microsoft 365 Business Basic")
    prices = pax8.list_prices(basic)
    monthly = next(p for p in prices if p.billing_term == "P1M")
    assert monthly.commitment_term == "P1Y" and monthly.unit_cost == Decimal("7.20")
    assert all(isinstance(p.unit_cost, Decimal) for p in prices)
    subs = list(pax8.list_subscriptions(_company(pax8, "Contoso Ltd")))
    assert {s.quantity for s in subs} == {10, 5}
    assert all(s.status == "Active" for s in subs)


def test_walks_every_page(pax8, pax8_server):
    state = pax8_server.app.sandbox.state
    state["companies"] += [{"id": f"c-{n}", "name": f"Bulk {n}", "website": f"bulk{n}.example"} for n in range(450)]
    assert len(list(pax8.list_companies())) == 453


def test_pax8_has_no_idempotency_key_so_a_second_post_buys_again(pax8, pax8_server):
    """As documented: no Idempotency-Key. Posting twice buys twice, and find_orders sees both."""
    from datetime import UTC, datetime, timedelta

    company, product = _company(pax8, "Northwind Traders"), _product(pax8, "Microsoft 365 Business Premium")
    since = datetime.now(UTC) - timedelta(seconds=1)
    key = idempotency_key("changelog-1", "new")
    first = pax8.place_order(company, product, 3, "P1M", "P1Y", key)
    again = pax8.place_order(company, product, 3, "P1M", "P1Y", key)
    assert first.order_id != again.order_id and not again.replayed
    assert len(pax8_server.app.sandbox.state["orders"]) == 2
    found = pax8.find_orders(company, product, 3, "P1M", since)
    assert {c.order_id for c in found} == {first.order_id, again.order_id}
    assert not pax8.find_orders(company, product, 4, "P1M", since)
    subs = list(pax8.list_subscriptions(company))
    assert len(subs) == 2 and subs[0].quantity == 3 and subs[0].commitment_term == "P1Y"


def test_lost_response_after_commit_is_raised_and_found_by_reconciliation(pax8_server, quick_retry):
    from datetime import UTC, datetime

    from shared.errors import RetriableError

    adapter = Pax8Adapter(pax8_server.url, "client", "secret", retry=quick_retry, timeout=0.5)
    company, product = _company(adapter, "Northwind Traders"), _product(adapter, "Acronis Cyber Protect Cloud")
    since = datetime.now(UTC)
    pax8_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5, path_contains="/v1/orders", method="POST")
    with pytest.raises(RetriableError):
        adapter.place_order(company, product, 7, "P1M", None, "our-reference")
    assert pax8_server.app.faults.injected["timeout"] == 1
    # The adapter never retried the POST on its own: one order, and reconciliation sees it.
    assert len(pax8_server.app.sandbox.state["orders"]) == 1
    found = adapter.find_orders(company, product, 7, "P1M", since)
    assert [c.order_id for c in found] == [pax8_server.app.sandbox.state["orders"][0]["id"]]


def test_throttling_is_retried(pax8, pax8_server):
    pax8_server.app.faults.set(throttle_every=2, retry_after_seconds=0, path_contains="/v1/")
    assert len(list(pax8.list_products())) == 3
    assert len(list(pax8.list_companies())) == 3
    assert pax8_server.app.faults.injected["429"] >= 1


def test_quantity_change_and_cancel(pax8):
    sub = next(iter(pax8.list_subscriptions(_company(pax8, "Fabrikam Inc"))))
    assert pax8.change_quantity(sub.id, 30, "k1").quantity == 30
    with pytest.raises(ValidationError):
        pax8.change_quantity(sub.id, 0, "k2")
    assert pax8.cancel(sub.id, "k3").status == "Cancelled"
    assert pax8.cancel(sub.id, "k3").status == "Cancelled"  # cancelling twice is a no-op


def test_provider_validation_errors_are_typed(pax8):
    company = _company(pax8, "Contoso Ltd")
    basic = _product(pax8, "Microsoft 365 Business Basic")
    with pytest.raises(ValidationError):
        pax8.place_order(company, basic, 1, "P1M", None, "k")  # commitment required
    with pytest.raises(NotFoundError):
        pax8.get_subscription("00000000-0000-0000-0000-000000000000")


def test_invoice_and_usage_lines(pax8):
    invoice = next(iter(pax8.list_invoices()))
    lines = list(pax8.list_invoice_lines(invoice.id))
    assert sum(line.amount for line in lines) == invoice.total
    acronis = next(s for s in pax8.list_subscriptions() if s.product_id == _product(pax8, "Acronis Cyber Protect Cloud"))
    usage = list(pax8.list_usage_lines(acronis.id, "2026-02"))
    assert usage[0].amount == Decimal("33.00") and usage[0].kind == "usage"


def test_wrong_secret_is_an_auth_error(pax8_server, quick_retry):
    pax8_server.app.sandbox.client_secret_required = "right"
    adapter = Pax8Adapter(pax8_server.url, "client", "wrong",
                          retry=quick_retry)
    with pytest.raises(AuthError):
        list(adapter.list_companies())


def test_orders_by_the_id_dynamics_holds(pax8, pax8_server):
    """Dynamics keys subscriptions by Microsoft's productId:skuId(:availabilityId); Pax8 by its own id."""
    basic = _product(pax8, "Microsoft 365 Business Basic")
    assert pax8.resolve_product_id("CFQ7TTC0LH18:0001:CFQ7TTC0K5DJ") == basic
    assert pax8.resolve_product_id(basic) == basic
    with pytest.raises(ValidationError):
        pax8.resolve_product_id("CFQ7TTC0NOPE:0001")
    company = _company(pax8, "Fabrikam Inc")
    order = pax8.place_order(company, "CFQ7TTC0LH18:0001", 2, "P1M", "P1Y", idempotency_key("cl-sku"))
    assert order.subscription_ids and pax8.get_subscription(order.subscription_ids[0]).product_id == basic
    # A month-to-month product has no commitment options; Dynamics' P1M term must not block it.
    backup = pax8.place_order(company, "ACR-WS-01", 3, "P1M", "P1M", idempotency_key("cl-acronis"))
    line = next(o for o in pax8_server.app.sandbox.state["orders"] if o["id"] == backup.order_id)["lineItems"][0]
    assert "commitmentTermId" not in line or line["commitmentTermId"] is None
