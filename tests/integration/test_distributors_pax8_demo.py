"""cli.demo_pax8.run_pax8_demo: a rep's Pax8 order through the provisioning worker, against the
Dataverse and Pax8 sandboxes."""

from __future__ import annotations

import pytest

from cli.demo_pax8 import run_pax8_demo
from distributors.pax8 import Pax8Adapter

pytestmark = pytest.mark.integration


def test_pax8_new_order_is_provisioned_once(dv, pax8, pax8_server):
    out = run_pax8_demo(dv, pax8=pax8, quantity=4)
    assert out["status"] == "Provisioned", out
    assert out["pax8_order_id"] and out["pax8_subscription_id"]
    assert out["accounts"]["counts"]["seen"] == 3
    state = pax8_server.app.sandbox.state
    order = next(o for o in state["orders"] if o["id"] == out["pax8_order_id"])
    # Dynamics keyed the subscription by Microsoft's product:sku; Pax8 got its own product id,
    # the company the account was mapped to, and the change log's idempotency key.
    assert order["companyId"] == out["company"]["pax8_id"]
    assert order["lineItems"][0]["productId"] == out["order"]["pax8_product_id"]
    assert order["lineItems"][0]["quantity"] == 4 and order["lineItems"][0]["commitmentTermId"]
    assert out["order"]["pax8_quantity"] == 4 and out["order"]["pax8_status"] == "Active"
    sub = dv.get("cspb_subscriptions", out["order"]["subscription"])
    assert sub["cspb_providersubscriptionid"] == out["pax8_subscription_id"]
    assert sub["cspb_status"] == 1 and sub["cspb_quantity"] == 4 and sub["cspb_provider"] == 2
    company = dv.get("cspb_provideraccounts", out["company"]["provider_account"])
    assert company["cspb_provider"] == 2 and company["cspb_mappingstatus"] == 1 and company["_cspb_account_value"]

    again = run_pax8_demo(dv, pax8=pax8, quantity=4)
    assert again["pax8_order_id"] == out["pax8_order_id"] and again["status"] == "Provisioned"
    assert len(state["orders"]) == 1


def test_a_lost_order_response_still_buys_once(dv, pax8_server, quick_retry):
    # The order commits at Pax8 but the response never arrives: the adapter finds the committed
    # order before trying again, so the worker records it instead of buying a second time.
    impatient = Pax8Adapter(pax8_server.url, "client", "secret",
                            retry=quick_retry, timeout=0.5)
    pax8_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.0, path_contains="/v1/orders", method="POST")
    out = run_pax8_demo(dv, pax8=impatient)
    assert out["status"] == "Provisioned" and out["pax8_order_id"]
    assert len(pax8_server.app.sandbox.state["orders"]) == 1


def test_a_pax8_refusal_is_written_on_the_change_log(dv, pax8, pax8_server):
    # Fabrikam's domain is shared by two CRM accounts, so the admin maps it by hand; and Pax8 has
    # withdrawn the product's monthly pricing, so the order is refused.
    state = pax8_server.app.sandbox.state
    state["companies"] = [c for c in state["companies"] if c["name"] == "Fabrikam Inc"]
    for name in ("Fabrikam East", "Fabrikam West"):
        dv.create("accounts", {"name": name, "cspb_domain": "fabrikam.onmicrosoft.com"})
    basic = next(p["id"] for p in state["products"] if p["name"] == "Microsoft 365 Business Basic")
    state["pricing"][basic] = []
    out = run_pax8_demo(dv, pax8=pax8)
    assert out["status"] == "Failed" and "provider refused" in out["error"], out
    assert out["pax8_order_id"] is None and out["pax8_subscription_id"] is None
    assert out["company"]["account"] and not state["orders"]
