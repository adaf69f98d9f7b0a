"""Provider account + subscription sync: Partner Center sandbox -> Dataverse sandbox, over real HTTP."""

from __future__ import annotations

import pytest

from dataverse.stores.provider_accounts import billing_block_reason
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration


def _accounts_for(dv, companies, mapped: int) -> None:
    for company in companies[:mapped]:
        dv.create("accounts", {"name": company.name, "cspb_domain": company.domain.upper()})


def test_accounts_auto_map_by_domain_and_unmapped_ones_block_billing(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    _accounts_for(dv, companies, mapped=2)
    result = run_provider_account_sync(dv, {1: sync_pc})
    assert result.run["status"] == "Succeeded"
    assert len(result.unmapped) == 2
    rows = list(dv.list("cspb_provideraccounts", select=["cspb_externalid", "cspb_mappingstatus", "_cspb_account_value",
                                                          "cspb_provider", "cspb_name", "cspb_domain"]))
    assert len(rows) == 4
    mapped = [r for r in rows if r["cspb_mappingstatus"] == 1]
    unmapped = [r for r in rows if r["cspb_mappingstatus"] == 2]
    assert len(mapped) == 2 and all(r["_cspb_account_value"] for r in mapped)
    assert billing_block_reason(mapped[0]) is None
    reason = billing_block_reason(unmapped[0])
    assert reason and "not mapped" in reason and "Unmapped Provider Accounts" in reason

    before = dv.http.request_count
    again = run_provider_account_sync(dv, {1: sync_pc})
    assert "written" not in again.run["counts"]
    assert dv.http.request_count - before == 4  # run row x2, provider accounts, accounts


def test_subscription_sync_creates_then_is_quiet_then_flags_drift(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    _accounts_for(dv, companies, mapped=4)
    run_provider_account_sync(dv, {1: sync_pc})
    total = sum(len(list(sync_pc.list_subscriptions(c.id))) for c in companies)

    first = run_subscription_sync(dv, {1: sync_pc})
    assert first["status"] == "Succeeded", first
    assert first["counts"]["seen"] == total and first["counts"]["created"] == total
    subs = list(dv.list("cspb_subscriptions", select=["cspb_providersubscriptionid", "cspb_kind", "cspb_driftflag",
                                                       "cspb_quantity", "_cspb_provideraccount_value"]))
    assert len([s for s in subs if s["cspb_kind"] != 3]) == total and all(s["_cspb_provideraccount_value"] for s in subs)
    assert any(s["cspb_kind"] == 2 for s in subs)  # the seeded Azure plan

    second = run_subscription_sync(dv, {1: sync_pc})
    assert second["counts"].get("created", 0) == 0 and second["counts"].get("changeLogs", 0) == 0

    # Someone adds seats in the Partner Center portal: the next sync records it as drift.
    company = companies[0]
    target = next(s for s in sync_pc.list_subscriptions(company.id) if s.status == "Active" and not s.product_id.startswith("DZH"))
    sync_pc.change_quantity(target.id, target.quantity + 3, "portal-change-1", company_id=company.id)
    third = run_subscription_sync(dv, {1: sync_pc})
    assert third["counts"]["updated"] == 1 and third["counts"]["drift"] == 1
    row = dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": target.id},
                        select=["cspb_subscriptionid", "cspb_quantity", "cspb_driftflag", "cspb_driftdetail"])
    assert row["cspb_quantity"] == target.quantity + 3 and row["cspb_driftflag"] is True
    assert "not ordered through CSPBridge" in row["cspb_driftdetail"]
    logs = [r for r in dv.list("cspb_licensechangelogs", select=["cspb_changetype", "cspb_isdrift", "cspb_newquantity",
                                                                "cspb_origin", "_cspb_subscription_value"])
            if r["_cspb_subscription_value"] == row["cspb_subscriptionid"] and r["cspb_changetype"] == 2]
    assert len(logs) == 1 and logs[0]["cspb_isdrift"] is True and logs[0]["cspb_origin"] == 3


def test_a_difference_our_own_change_explains_is_not_drift(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    _accounts_for(dv, companies, mapped=1)
    run_provider_account_sync(dv, {1: sync_pc})
    run_subscription_sync(dv, {1: sync_pc})
    company = companies[0]
    target = next(s for s in sync_pc.list_subscriptions(company.id) if s.status == "Active" and not s.product_id.startswith("DZH"))
    row = dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": target.id},
                        select=["cspb_subscriptionid"])
    # Our change log reached the provider but its write-back was lost (status still Awaiting).
    dv.create("cspb_licensechangelogs", {
        "cspb_changekey": "rep-1", "cspb_name": "rep change", "cspb_changetype": 2,
        "cspb_oldquantity": target.quantity, "cspb_newquantity": target.quantity + 1, "cspb_origin": 1,
        "cspb_provisioningstatus": 1, "cspb_subscription@odata.bind": f"/cspb_subscriptions({row['cspb_subscriptionid']})"})
    sync_pc.change_quantity(target.id, target.quantity + 1, "rep-1-key", company_id=company.id)
    result = run_subscription_sync(dv, {1: sync_pc})
    assert result["counts"]["updated"] == 1 and result["counts"].get("drift", 0) == 0


def test_azure_plan_entitlements_become_children_of_the_plan(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    _accounts_for(dv, companies, mapped=4)
    run_provider_account_sync(dv, {1: sync_pc})
    run_subscription_sync(dv, {1: sync_pc})
    rows = list(dv.list("cspb_subscriptions", select=["cspb_kind", "_cspb_parentsubscription_value",
                                                       "cspb_subscriptionid"]))
    plans = {r["cspb_subscriptionid"] for r in rows if r["cspb_kind"] == 2}
    entitlements = [r for r in rows if r["cspb_kind"] == 3]
    assert plans and entitlements and all(e["_cspb_parentsubscription_value"] in plans for e in entitlements)
    again = run_subscription_sync(dv, {1: sync_pc})
    assert again["counts"].get("created", 0) == 0 and again["counts"].get("entitlements", 0) == 0


def test_legacy_azure_is_flagged_for_transition() -> None:
    from distributors.base import Subscription
    from sync.azure_plan import classify

    legacy = Subscription(id="s", company_id="c", product_id="MS-AZR-0145P", quantity=1, status="Active",
                          billing_term="P1M")
    assert classify(legacy) == (6, True)
    plan = Subscription(id="p", company_id="c", product_id="DZH318Z0BPS6:0001:DZH318Z09P8V", quantity=1,
                        status="Active", billing_term="P1M")
    assert classify(plan) == (2, False)


def test_pax8_companies_and_subscriptions_sync_next_to_partner_center(dv, sync_pc, pax8_server, quick_retry) -> None:
    from distributors.pax8 import Pax8Adapter

    pax8 = Pax8Adapter(pax8_server.url, "client", "secret",
                       retry=quick_retry)
    companies = list(pax8.list_companies())
    result = run_provider_account_sync(dv, {1: sync_pc, 2: pax8})
    rows = list(dv.list("cspb_provideraccounts", select=["cspb_provider"]))
    assert sum(1 for r in rows if r["cspb_provider"] == 2) == len(companies) > 0
    assert result.run["status"] == "Succeeded"
    subs = run_subscription_sync(dv, {1: sync_pc, 2: pax8}, workers=2)
    assert subs["status"] == "Succeeded", subs
    pax8_subs = [s for s in dv.list("cspb_subscriptions", select=["cspb_provider"]) if s["cspb_provider"] == 2]
    assert len(pax8_subs) == sum(len(list(pax8.list_subscriptions(c.id))) for c in companies)


def test_one_provider_down_does_not_stop_the_others(dv, sync_pc, quick_retry) -> None:
    from distributors.pax8 import Pax8Adapter

    dead = Pax8Adapter("http://127.0.0.1:9", "client", "secret",
                       retry=quick_retry, timeout=1.0)
    result = run_provider_account_sync(dv, {1: sync_pc, 2: dead})
    assert result.run["status"] == "PartiallySucceeded" and "Pax8" in result.run["errors"][0]
    assert len(list(dv.list("cspb_provideraccounts", select=["cspb_provider"]))) == 4


def test_first_sync_imports_without_drift_and_a_later_purchase_elsewhere_is_drift(dv, sync_pc) -> None:
    companies = list(sync_pc.list_companies())
    _accounts_for(dv, companies, mapped=1)
    run_provider_account_sync(dv, {1: sync_pc})
    first = run_subscription_sync(dv, {1: sync_pc})
    assert first["counts"]["created"] > 0 and first["counts"].get("drift", 0) == 0
    company = companies[0]
    order = sync_pc.place_order(company.id, "CFQ7TTC0LH18:0001:CFQ7TTC0K59J", 2, "P1M", "P1Y", "bought-in-portal")
    later = run_subscription_sync(dv, {1: sync_pc})
    assert later["counts"]["created"] == 1 and later["counts"]["drift"] == 1
    row = dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": order.subscription_ids[0]},
                        select=["cspb_driftflag", "cspb_driftdetail"])
    assert row["cspb_driftflag"] is True and "outside CSPBridge" in row["cspb_driftdetail"]
