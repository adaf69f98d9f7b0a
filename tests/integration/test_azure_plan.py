"""The Azure plan end to end: a rep adds one in Dynamics, the webhook and worker buy it through
Partner Center's cart (the sandbox over HTTP), and the subscription sync brings back the plan and
the Azure subscription it created. A second plan is refused: by our own rule before any Partner
Center call when Dynamics knows the first plan, and by Partner Center's checkout (800089) when it
does not yet."""

from __future__ import annotations

import pytest

from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration

PLAN_PRODUCT, PLAN_SKU = "DZH318Z0BPS6", "0001"
AZURE_PLAN, AZURE_ENTITLEMENT, PENDING, ACTIVE = 2, 3, 5, 1
PROVISIONED, REFUSED = 2, 5


def _accounts(dv, pc) -> dict[str, tuple[object, str, bool]]:
    """company id -> (company, provider account id, has a plan at Partner Center); MCA attested."""
    companies = list(pc.list_companies())
    for company in companies:
        dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: pc})
    out = {}
    for company in companies:
        account = dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": company.id},
                                select=["cspb_provideraccountid"])["cspb_provideraccountid"]
        dv.update("cspb_provideraccounts", account, {"cspb_mcaattested": True})
        has_plan = any(s.product_id.startswith(PLAN_PRODUCT) for s in pc.list_subscriptions(company.id))
        out[company.id] = (company, account, has_plan)
    return out


def _rep_adds_plan(dv, account_id: str, key: str) -> tuple[str, str]:
    """What the rep does on the account's form: a new Azure plan subscription (Pending) and its
    New change log. The availability is left to the catalog."""
    sub_id = dv.create("cspb_subscriptions", {
        "cspb_name": "Azure plan", "cspb_provider": 1, "cspb_productid": PLAN_PRODUCT, "cspb_skuid": PLAN_SKU,
        "cspb_status": PENDING, "cspb_kind": AZURE_PLAN,
        "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    log_id = dv.create("cspb_licensechangelogs", {
        "cspb_changekey": key, "cspb_name": key, "cspb_changetype": 1, "cspb_newquantity": 1, "cspb_origin": 1,
        "cspb_provisioningstatus": 1, "cspb_requestedby": "rep@partner",
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub_id})"})
    return sub_id, log_id


def _log(dv, log_id: str) -> dict:
    return dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus", "cspb_error",
                                                           "cspb_providerorderid"])


def _deliver(dv, dv_server, pc) -> None:
    for _ in range(2):  # the change log's Create, then the Updates our own write-back causes
        assert dv_server.app.wait_for_webhooks()
        drain(get_queue(PROVISIONING_QUEUE), lambda m: provisioning.handle_message(m.body, dv=dv, adapters={1: pc}))


def test_rep_buys_an_azure_plan_and_a_second_one_is_refused(dv, dv_server, sync_pc, sync_pc_server,
                                                           webhook_endpoint) -> None:
    url, key = webhook_endpoint
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create", "Update"))
    accounts = _accounts(dv, sync_pc)
    company, account_id, _ = next(v for v in accounts.values() if not v[2])
    checkouts = sync_pc_server.app.state.checkouts

    # 1. The purchase: cart line DZH318Z0BPS6:0001:<availability from the catalog>, quantity 1, no term.
    plan_row, log_id = _rep_adds_plan(dv, account_id, "rep-azure-plan-1")
    _deliver(dv, dv_server, sync_pc)
    log = _log(dv, log_id)
    assert log["cspb_provisioningstatus"] == PROVISIONED and log["cspb_providerorderid"], log
    assert sync_pc_server.app.state.checkouts == checkouts + 1
    bought = dv.get("cspb_subscriptions", plan_row, select=["cspb_providersubscriptionid", "cspb_status"])
    remote = [s for s in sync_pc.list_subscriptions(company.id) if s.product_id.startswith(PLAN_PRODUCT)]
    assert [s.id for s in remote] == [bought["cspb_providersubscriptionid"]]
    plan = sync_pc.client.get_subscription(company.id, remote[0].id)
    assert plan.is_azure_plan and plan.offer_id.startswith(f"{PLAN_PRODUCT}:{PLAN_SKU}:") and plan.status == "active"
    order = sync_pc.client.get_order(company.id, log["cspb_providerorderid"])
    assert [li.offer_id for li in order.line_items] == [plan.offer_id]

    # 2. The sync: the same Dynamics row is the plan, and the Azure subscription the purchase
    #    created is its child entitlement.
    run_subscription_sync(dv, {1: sync_pc})
    rows = [r for r in dv.list("cspb_subscriptions", select=["cspb_subscriptionid", "cspb_kind", "cspb_status",
                                                             "_cspb_provideraccount_value", "_cspb_parentsubscription_value",
                                                             "cspb_providersubscriptionid"])
            if r["_cspb_provideraccount_value"] == account_id]
    plans = [r for r in rows if r["cspb_kind"] == AZURE_PLAN]
    assert [r["cspb_subscriptionid"] for r in plans] == [plan_row] and plans[0]["cspb_status"] == ACTIVE
    entitlements = [r for r in rows if r["cspb_kind"] == AZURE_ENTITLEMENT]
    assert [e["id"] for e in sync_pc.list_azure_entitlements(company.id, plan.id)] == \
        [r["cspb_providersubscriptionid"] for r in entitlements]
    assert all(r["_cspb_parentsubscription_value"] == plan_row for r in entitlements) and len(entitlements) == 1

    # 3. A second plan for the same customer: refused before any Partner Center call, with the reason.
    calls = sync_pc.http.request_count
    second_row, second_log = _rep_adds_plan(dv, account_id, "rep-azure-plan-2")
    _deliver(dv, dv_server, sync_pc)
    log = _log(dv, second_log)
    assert log["cspb_provisioningstatus"] == REFUSED
    assert "already has an Azure plan" in log["cspb_error"] and plan.id in log["cspb_error"]
    assert sync_pc.http.request_count == calls and sync_pc_server.app.state.checkouts == checkouts + 1
    assert not dv.get("cspb_subscriptions", second_row, select=["cspb_providersubscriptionid"])[
        "cspb_providersubscriptionid"]


def test_partner_center_refuses_a_plan_dynamics_does_not_know_about(dv, dv_server, sync_pc, sync_pc_server,
                                                                   webhook_endpoint) -> None:
    """The customer's plan exists at Partner Center but not yet in Dynamics (no sync since): our
    rule lets the order through, Partner Center's checkout refuses it (800089), and the change
    log ends Refused with Partner Center's code and what to do. Nothing was bought."""
    url, key = webhook_endpoint
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create", "Update"))
    accounts = _accounts(dv, sync_pc)
    company, account_id, _ = next(v for v in accounts.values() if v[2])
    before = [s.id for s in sync_pc.list_subscriptions(company.id) if s.product_id.startswith(PLAN_PRODUCT)]
    checkouts = sync_pc_server.app.state.checkouts

    _row, log_id = _rep_adds_plan(dv, account_id, "rep-azure-plan-pc")
    _deliver(dv, dv_server, sync_pc)
    log = _log(dv, log_id)
    assert log["cspb_provisioningstatus"] == REFUSED, log
    assert "800089" in log["cspb_error"] and "already has an Azure plan" in log["cspb_error"]
    assert not log["cspb_providerorderid"] and sync_pc_server.app.state.checkouts == checkouts
    assert [s.id for s in sync_pc.list_subscriptions(company.id) if s.product_id.startswith(PLAN_PRODUCT)] == before


def _legacy_azure(sub_id: str, customer_id: str) -> dict:
    """A legacy Microsoft Azure subscription as Partner Center shows it (wire/partnercenter/
    get-a-subscription-by-id__1.http)."""
    return {"id": sub_id, "entitlementId": "42226ed6-070a-4e0f-b80c-4cdfb3e97aa7", "offerId": "MS-AZR-0145P",
            "offerName": "Microsoft Azure", "friendlyName": "Microsoft Azure", "quantity": 1,
            "unitType": "Usage-based", "creationDate": "2019-05-10T07:30:05.427Z",
            "effectiveStartDate": "2019-05-10T00:00:00Z", "commitmentEndDate": "9999-12-10T00:00:00Z",
            "status": "active", "autoRenewEnabled": False, "billingType": "usage", "contractType": "subscription",
            "orderId": "b23fdedd-d6bd-415a-8b71-3624c81c9644",
            "links": {"self": {"uri": f"/customers/{customer_id}/subscriptions/{sub_id}", "method": "GET",
                               "headers": []}},
            "attributes": {"etag": "1", "objectType": "Subscription"}}


def test_legacy_azure_is_guided_to_an_azure_plan_until_the_sync_sees_it(dv, dv_server, sync_pc, sync_pc_server,
                                                                       webhook_endpoint) -> None:
    url, key = webhook_endpoint
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create", "Update"))
    company = next(c for c in sync_pc.list_companies()
                   if not any(s.product_id.startswith(PLAN_PRODUCT) for s in sync_pc.list_subscriptions(c.id)))
    state = sync_pc_server.app.state.customer_state(company.id)
    legacy_id = "a356ac8c-e310-44f4-bf85-c7f29044af99"
    state["subscriptions"].append(_legacy_azure(legacy_id, company.id))
    sync_pc_server.app.state.save(company.id)
    accounts = _accounts(dv, sync_pc)
    _, account_id, _ = accounts[company.id]
    crm_account = dv.get("cspb_provideraccounts", account_id, select=["_cspb_account_value"])["_cspb_account_value"]

    def legacy() -> dict:
        return dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": legacy_id}, select=[
            "cspb_subscriptionid", "cspb_kind", "cspb_needstransition", "cspb_transitionstate",
            "cspb_transitioninstructions", "_cspb_transitionplan_value", "cspb_status"])

    def tasks() -> list:
        return [t for t in dv.list("tasks", select=["subject", "description", "_regardingobjectid_value"])
                if "legacy Microsoft Azure" in (t.get("subject") or "")]

    # 1. The sync finds it: flagged, and the rep gets the steps on the form and as a task on the account.
    run_subscription_sync(dv, {1: sync_pc})
    row = legacy()
    assert row["cspb_kind"] == 6 and row["cspb_needstransition"] is True and row["cspb_transitionstate"] == 2
    steps = row["cspb_transitioninstructions"]
    assert "MS-AZR-0145P" in steps and "DZH318Z0BPS6" in steps and "Microsoft Customer Agreement" in steps
    task, = tasks()
    assert task["_regardingobjectid_value"] == crm_account and task["description"] == steps
    assert company.name in task["subject"]
    run_subscription_sync(dv, {1: sync_pc})  # nothing moves, no second task
    assert legacy()["cspb_transitionstate"] == 2 and len(tasks()) == 1

    # 2. The rep follows step 2: the Azure plan is bought from Dynamics; the next sync sees it.
    plan_row, log_id = _rep_adds_plan(dv, account_id, "rep-azure-plan-transition")
    _deliver(dv, dv_server, sync_pc)
    assert _log(dv, log_id)["cspb_provisioningstatus"] == PROVISIONED
    run_subscription_sync(dv, {1: sync_pc})
    row = legacy()
    assert row["cspb_transitionstate"] == 3 and row["_cspb_transitionplan_value"] == plan_row
    assert row["cspb_status"] == ACTIVE  # the resources have not moved yet

    # 3. Partner Center transitions the resources and disables the legacy subscription: Done.
    for sub in state["subscriptions"]:
        if sub["id"] == legacy_id:
            sub["status"] = "disabled"
    sync_pc_server.app.state.save(company.id)
    run_subscription_sync(dv, {1: sync_pc})
    done = legacy()
    assert done["cspb_transitionstate"] == 4 and done["cspb_needstransition"] is False and len(tasks()) == 1
