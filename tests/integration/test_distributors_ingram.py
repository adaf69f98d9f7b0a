"""Ingram Micro Cloud Marketplace (CMP) end to end, UNVERIFIED shapes (distributors/ingram.py says which):
the adapter against its sandbox (token, offset paging, error shape), and change logs from Dynamics
provisioned through the same exactly-once seam as Pax8 and TD SYNNEX, a lost sales order found
again by the poNumber we put on every order."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dataverse.tables import EntitySet, Provider, SubscriptionStatus
from distributors import ingram as ingram_module
from distributors.base import DistributorAdapter
from shared.errors import AuthError, ValidationError
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.records import bind

pytestmark = pytest.mark.integration

IM = int(Provider.INGRAM)
PROVISIONED = 2
LOG_COLUMNS = ["cspb_provisioningstatus", "cspb_providerorderid", "cspb_error", "cspb_idempotencykey"]


def test_reads_customers_products_and_subscriptions_across_pages(ingram, ingram_server, monkeypatch):
    assert isinstance(ingram, DistributorAdapter)
    monkeypatch.setattr(ingram_module, "PAGE_SIZE", 1)  # every page boundary is crossed
    companies = list(ingram.list_companies())
    assert [(c.id, c.domain, c.country) for c in companies] == [("1000027", "northwind.example", "US"),
                                                                ("1000028", "fabrikam.example", "GB")]
    assert {p.id for p in ingram.list_products()} == {"CFQ7TTC0LH18:0001", "CFQ7TTC0LCHC:0002"}
    for n in range(3):
        ingram.place_order("1000027", "CFQ7TTC0LH18:0001", n + 1, "P1M", "P1Y", f"po-{n}")
    subs = list(ingram.list_subscriptions("1000027"))
    assert [s.quantity for s in subs] == [1, 2, 3] and subs[0].billing_term == "P1M"
    assert subs[0].commitment_term == "P1Y" and subs[0].status == "Active" and str(subs[0].unit_cost) == "6.00"
    [price] = ingram.list_prices("CFQ7TTC0LH18:0001")
    assert (price.billing_term, price.commitment_term, str(price.unit_cost)) == ("P1M", "P1Y", "7.20")


def test_errors_carry_the_message_and_the_correlation_id(ingram, ingram_server):
    from distributors.ingram import IngramAdapter
    from sandbox.ingram.server import SUBSCRIPTION_KEY, USER

    with pytest.raises(ValidationError) as bad:
        ingram.place_order("1000027", "NOPE:0001", 1, "P1M", "P1Y", "po-x")
    assert "not found" in bad.value.message and "correlation id" in bad.value.message
    wrong = IngramAdapter(ingram_server.url + "/marketplace/na", USER, "wrong", SUBSCRIPTION_KEY, timeout=2)
    with pytest.raises(AuthError, match="wrong username or password"):
        list(wrong.list_companies())


@pytest.fixture
def world(dv, ingram, ingram_server, monkeypatch):
    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "2")
    from shared.config import reset_settings

    reset_settings()
    dv.create(EntitySet.ACCOUNTS, {"name": "Northwind Traders", "cspb_domain": "northwind.example"})
    run_provider_account_sync(dv, {IM: ingram})
    company = next(r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid",
                                                                           "cspb_externalid", "_cspb_account_value"],
                                      filter=f"cspb_provider eq {IM}") if r["cspb_externalid"] == "1000027")
    assert company["_cspb_account_value"], "the Ingram customer maps to the CRM account by its domain"
    return {"dv": dv, "im": ingram, "company": company, "sandbox": ingram_server.app.sandbox,
            "faults": ingram_server.app.faults, "adapters": {IM: ingram}}


def _change(dv: Any, sub_id: str, change_type: int, old: int, new: int, name: str) -> str:
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": f"test|{name}", "cspb_name": name, "cspb_changetype": change_type,
        "cspb_oldquantity": old, "cspb_newquantity": new, "cspb_origin": 1, "cspb_provisioningstatus": 1,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub_id)})


def _new_order(dv: Any, company: dict[str, Any], quantity: int, name: str) -> tuple[str, str]:
    sub = dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": f"{name} via Ingram", "cspb_provider": IM,
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company["cspb_provideraccountid"]),
        "cspb_productid": "CFQ7TTC0LH18", "cspb_skuid": "0001", "cspb_quantity": 0, "cspb_term": "P1Y",
        "cspb_billingfrequency": "P1M", "cspb_status": int(SubscriptionStatus.PENDING),
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
    return sub, _change(dv, sub, 1, 0, quantity, name)


def _sub(dv: Any, sub_id: str) -> dict[str, Any]:
    return dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_providersubscriptionid", "cspb_quantity",
                                                           "cspb_status"])


def test_new_seat_change_auto_renew_and_cancel_from_dynamics(world):
    dv, state = world["dv"], world["sandbox"].state
    sub_id, log_id = _new_order(dv, world["company"], 3, "e2e")
    outcome = provisioning.process_change(log_id, dv=dv, adapters=world["adapters"])
    assert outcome.status == "Provisioned", outcome.message
    order = state["orders"][0]
    key = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS)["cspb_idempotencykey"]
    assert order["type"] == "sales" and order["poNumber"] == key and order["products"][0]["mpn"] == \
        "CFQ7TTC0LH18:0001"
    row = _sub(dv, sub_id)
    cmp_sub = state["subscriptions"][0]
    assert row["cspb_providersubscriptionid"] == cmp_sub["id"] and row["cspb_status"] == int(SubscriptionStatus.ACTIVE)
    # Seat change: a change order naming the subscription, with the new total.
    assert provisioning.process_change(_change(dv, sub_id, 2, 3, 5, "e2e-seats"), dv=dv,
                                       adapters=world["adapters"]).status == "Provisioned"
    assert state["orders"][-1]["type"] == "change" and cmp_sub["products"][0]["quantity"] == 5
    assert _sub(dv, sub_id)["cspb_quantity"] == 5
    world["im"].set_auto_renew(cmp_sub["id"], False, "renew-off")
    assert cmp_sub["renewalStatus"] is False
    # Cancel: a cancellation order.
    assert provisioning.process_change(_change(dv, sub_id, 5, 5, 0, "e2e-cancel"), dv=dv,
                                       adapters=world["adapters"]).status == "Provisioned"
    assert state["orders"][-1]["type"] == "cancellation" and cmp_sub["status"] == "terminated"


def test_a_lost_sales_order_answer_is_found_by_our_po_number(world):
    dv, state = world["dv"], world["sandbox"].state
    sub_id, log_id = _new_order(dv, world["company"], 4, "lost")
    world["faults"].set(timeout_after_commit=1, stall_seconds=3, path_contains="/orders", method="POST")
    outcome = provisioning.process_change(log_id, dv=dv, adapters=world["adapters"])
    world["faults"].clear()
    assert outcome.status == "Provisioned" and outcome.replayed and world["sandbox"].order_posts == 1
    assert _sub(dv, sub_id)["cspb_providersubscriptionid"] == state["subscriptions"][0]["id"]
    assert provisioning.process_change(log_id, dv=dv, adapters=world["adapters"]).status == "AlreadyDone"
    assert world["sandbox"].order_posts == 1


def test_subscription_sync_reads_ingram_into_dynamics(world):
    from sync.subscription_sync import run_subscription_sync

    world["im"].place_order("1000027", "CFQ7TTC0LH18:0001", 7, "P1M", "P1Y", "po-portal")  # bought in CMP's portal
    run_subscription_sync(world["dv"], {IM: world["im"]})
    rows = list(world["dv"].list(EntitySet.SUBSCRIPTIONS, select=["cspb_providersubscriptionid", "cspb_quantity",
                                                                  "cspb_term", "cspb_billingfrequency", "cspb_status"],
                                 filter=f"cspb_provider eq {IM}"))
    assert [(r["cspb_quantity"], r["cspb_term"], r["cspb_billingfrequency"], r["cspb_status"]) for r in rows] == [
        (7, "P1Y", "P1M", int(SubscriptionStatus.ACTIVE))]
