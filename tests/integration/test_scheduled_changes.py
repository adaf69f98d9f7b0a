"""Scheduled license changes end to end, from a dated change log in Dynamics to the provider:
- a change dated in the future waits (Awaiting) and the scheduled-changes timer's job sends it on its date;
- a seat change dated at the end of a new-commerce term goes to Partner Center now as the
  subscription's scheduledNextTermInstructions (auto-renew must be on; a mid-term change clears it);
- a cancellation dated at term end turns auto-renew off, at Partner Center and at TD SYNNEX."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dataverse.tables import EntitySet, Provider
from jobs import scheduled_changes
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync
from tests.integration.test_distributors_tdsynnex import _new_order

pytestmark = pytest.mark.integration

AWAITING, PROVISIONED, REFUSED = 1, 2, 5
SUB_COLUMNS = ["cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_quantity", "cspb_commitmentenddate",
               "cspb_autorenew", "_cspb_provideraccount_value"]


def _licensed_subscription(dv: Any, pc: Any) -> tuple[dict[str, Any], str]:
    """A synced annual Partner Center subscription with auto-renew on, and its customer id."""
    company = next(iter(pc.list_companies()))
    dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: pc})
    run_subscription_sync(dv, {1: pc})
    account = dv.get_by_key(EntitySet.PROVIDER_ACCOUNTS, {"cspb_provider": 1, "cspb_externalid": company.id},
                            select=["cspb_provideraccountid"])
    dv.update(EntitySet.PROVIDER_ACCOUNTS, account["cspb_provideraccountid"], {"cspb_mcaattested": True})
    rows = dv.list(EntitySet.SUBSCRIPTIONS, select=[*SUB_COLUMNS, "cspb_term", "cspb_status", "cspb_kind"],
                   filter=f"_cspb_provideraccount_value eq {account['cspb_provideraccountid']} and cspb_status eq 1 "
                          "and cspb_term eq 'P1Y' and cspb_autorenew eq true")
    licensed = [r for r in rows if r.get("cspb_commitmentenddate") and (r.get("cspb_quantity") or 0) >= 2
                and r.get("cspb_kind") in (1, None)]
    assert licensed, "the Partner Center sandbox seeds an annual licence subscription with auto-renew on"
    return licensed[0], company.id


def _dated(dv: Any, sub: dict[str, Any], key: str, change_type: int, old: int, new: int, when: datetime) -> str:
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": key, "cspb_name": key, "cspb_changetype": change_type, "cspb_oldquantity": old,
        "cspb_newquantity": new, "cspb_origin": 1, "cspb_provisioningstatus": 1, "cspb_effectivedate":
        when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub['cspb_subscriptionid']})"})


def _log(dv: Any, log_id: str) -> dict[str, Any]:
    return dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["cspb_provisioningstatus", "cspb_error"])


def _pc_sub(pc: Any, customer: str, sub_id: str) -> dict[str, Any]:
    return pc.client.get_subscription(customer, sub_id).raw


def test_a_future_change_waits_for_its_date_and_the_timer_sends_it(dv, sync_pc):
    sub, customer = _licensed_subscription(dv, sync_pc)
    now = datetime.now(UTC)
    quantity = int(sub["cspb_quantity"])
    log_id = _dated(dv, sub, "dated-up", 2, quantity, quantity + 2, now + timedelta(days=3))
    adapters = {1: sync_pc}
    outcome = provisioning.process_change(log_id, dv=dv, adapters=adapters, now=now)
    assert outcome.status == "Scheduled" and "sent on that date" in outcome.message, outcome.message
    assert _log(dv, log_id)["cspb_provisioningstatus"] == AWAITING
    assert scheduled_changes.run(now + timedelta(days=1), dv=dv, adapters=adapters).due == 0
    assert _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])["quantity"] == quantity
    report = scheduled_changes.run(now + timedelta(days=3, minutes=1), dv=dv, adapters=adapters)
    assert report.due == 1 and report.outcomes["Provisioned"] == 1
    assert _log(dv, log_id)["cspb_provisioningstatus"] == PROVISIONED
    assert _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])["quantity"] == quantity + 2
    # The next run finds nothing left to do.
    assert scheduled_changes.run(now + timedelta(days=4), dv=dv, adapters=adapters).due == 0


def test_a_change_at_renewal_becomes_next_term_instructions_and_a_mid_term_change_clears_them(dv, sync_pc):
    sub, customer = _licensed_subscription(dv, sync_pc)
    now = datetime.now(UTC)
    quantity = int(sub["cspb_quantity"])
    term_end = datetime.fromisoformat(str(sub["cspb_commitmentenddate"]).replace("Z", "+00:00"))
    down = _dated(dv, sub, "renewal-down", 3, quantity, quantity - 1, term_end + timedelta(days=1))
    outcome = provisioning.process_change(down, dv=dv, adapters={1: sync_pc}, now=now)
    assert outcome.status == "Provisioned" and "renewal" in outcome.message
    raw = _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])
    assert raw["quantity"] == quantity  # nothing changes mid-term
    assert raw["scheduledNextTermInstructions"]["quantity"] == quantity - 1
    assert raw["scheduledNextTermInstructions"]["product"]["termDuration"] == "P1Y"
    # A mid-term seat increase deletes what was scheduled (create-scheduled-changes).
    up = _dated(dv, sub, "mid-term-up", 2, quantity, quantity + 1, now)
    assert provisioning.process_change(up, dv=dv, adapters={1: sync_pc}, now=now).status == "Provisioned"
    assert not _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"]).get("scheduledNextTermInstructions")


def test_cancel_at_term_end_turns_auto_renew_off_and_a_renewal_change_then_is_refused(dv, sync_pc):
    sub, customer = _licensed_subscription(dv, sync_pc)
    now = datetime.now(UTC)
    quantity = int(sub["cspb_quantity"])
    term_end = datetime.fromisoformat(str(sub["cspb_commitmentenddate"]).replace("Z", "+00:00"))
    cancel = _dated(dv, sub, "cancel-at-end", 5, quantity, 0, term_end)
    outcome = provisioning.process_change(cancel, dv=dv, adapters={1: sync_pc}, now=now)
    assert outcome.status == "Provisioned" and "auto-renew off" in outcome.message
    raw = _pc_sub(sync_pc, customer, sub["cspb_providersubscriptionid"])
    assert raw["autoRenewEnabled"] is False and raw["status"] == "active"
    assert dv.get(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"], select=["cspb_autorenew"])[
        "cspb_autorenew"] is False
    later = _dated(dv, sub, "renewal-after-off", 2, quantity, quantity + 3, term_end + timedelta(days=1))
    refused = provisioning.process_change(later, dv=dv, adapters={1: sync_pc}, now=now)
    assert refused.status == "Refused" and "needs auto-renew on" in refused.message
    assert _log(dv, later)["cspb_provisioningstatus"] == REFUSED


def test_cancel_at_term_end_at_tdsynnex_sends_renewal_setting_off(dv, tdsynnex, tdsynnex_server):
    dv.create(EntitySet.ACCOUNTS, {"name": "Litware Inc", "cspb_domain": "litware.example"})
    td = int(Provider.TDSYNNEX)
    run_provider_account_sync(dv, {td: tdsynnex})
    company = next(r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid",
                                                                           "cspb_externalid"],
                                      filter=f"cspb_provider eq {td}") if r["cspb_externalid"] == "49958")
    log_id = _new_order(dv, company, 4, "td-end")
    assert provisioning.process_change(log_id, dv=dv, adapters={td: tdsynnex}).status == "Provisioned"
    sub_id = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["_cspb_subscription_value"])[
        "_cspb_subscription_value"]
    ms_id = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_providersubscriptionid"])[
        "cspb_providersubscriptionid"]
    end = datetime.now(UTC) + timedelta(days=300)
    dv.update(EntitySet.SUBSCRIPTIONS, sub_id, {"cspb_commitmentenddate": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                                "cspb_autorenew": True})
    cancel = _dated(dv, {"cspb_subscriptionid": sub_id}, "td-cancel-end", 5, 4, 0, end)
    outcome = provisioning.process_change(cancel, dv=dv, adapters={td: tdsynnex})
    assert outcome.status == "Provisioned", outcome.message
    state = next(s for s in tdsynnex_server.app.sandbox.state["subscriptions"] if s["subscriptionId"] == ms_id)
    assert state["autoRenew"] is False and state["subscriptionStatus"] == "active"
    update = tdsynnex_server.app.sandbox.state["orders"][-1]["orderItems"][0]
    assert {"name": "renewalSetting", "value": "auto-off"} in update["attributes"] and update["action"] == "UPDATE"
