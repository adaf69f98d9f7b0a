"""Trials at their end, from Dynamics: the rep's choice (cspb_converttopaid) converts the trial to paid
through a Partner Center transition (billing starts on the conversion, from the paid subscription),
otherwise the trial expires with auto-renew off at Partner Center. Both go through change logs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dataverse.tables import EntitySet
from jobs import trials
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration


def _trials(dv: Any, pc: Any, server: Any) -> tuple[str, list[dict[str, Any]]]:
    company = next(iter(pc.list_companies()))
    dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    state = server.app.state.customer_state(company.id)
    licensed = [s for s in state["subscriptions"] if s.get("unitType") == "Licenses" and s["status"] == "active"][:2]
    assert len(licensed) == 2
    ended = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    for s in licensed:  # two trials whose month ended yesterday
        s.update(isTrial=True, billingCycle="none", commitmentEndDate=ended, autoRenewEnabled=True)
    server.app.state.save(company.id)
    run_provider_account_sync(dv, {1: pc})
    account = dv.get_by_key(EntitySet.PROVIDER_ACCOUNTS, {"cspb_provider": 1, "cspb_externalid": company.id},
                            select=["cspb_provideraccountid"])
    dv.update(EntitySet.PROVIDER_ACCOUNTS, account["cspb_provideraccountid"], {"cspb_mcaattested": True})
    run_subscription_sync(dv, {1: pc})
    rows = [dv.get_by_key(EntitySet.SUBSCRIPTIONS, {"cspb_providersubscriptionid": s["id"]},
                          select=["cspb_subscriptionid", "cspb_status", "cspb_providersubscriptionid"])
            for s in licensed]
    assert all(r["cspb_status"] == 6 for r in rows), rows  # Trial
    return company.id, rows


def test_trial_end_converts_when_the_rep_chose_so_and_otherwise_expires(dv, sync_pc, sync_pc_server):
    customer, (keep, drop) = _trials(dv, sync_pc, sync_pc_server)
    dv.update(EntitySet.SUBSCRIPTIONS, keep["cspb_subscriptionid"], {"cspb_converttopaid": True})
    now = datetime.now(UTC)
    report = trials.run(now, dv=dv, adapters={1: sync_pc})
    # (the seed has trials of unmapped customers too: those fail with the reason and stay trials)
    assert report.outcomes["convert: Provisioned"] == 1 and report.outcomes["expire: Provisioned"] == 1, report
    # Converted: a paid subscription linked to the trial, started now; the trial has ended.
    paid = list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_status", "cspb_startdate", "cspb_billingfrequency",
                                                         "cspb_providersubscriptionid"],
                        filter=f"_cspb_transitionedfrom_value eq {keep['cspb_subscriptionid']}"))
    assert len(paid) == 1 and paid[0]["cspb_status"] == 1 and paid[0]["cspb_billingfrequency"] == "P1M"
    started = datetime.fromisoformat(paid[0]["cspb_startdate"].replace("Z", "+00:00"))
    assert abs((started - now).total_seconds()) < 120  # billing starts on the conversion
    raw = sync_pc.client.get_subscription(customer, paid[0]["cspb_providersubscriptionid"]).raw
    assert raw["isTrial"] is False and raw["status"] == "active"
    assert dv.get(EntitySet.SUBSCRIPTIONS, keep["cspb_subscriptionid"], select=["cspb_status"])["cspb_status"] == 3
    # Not chosen: auto-renew off at Partner Center, Expired in Dynamics, no paid subscription.
    dropped = sync_pc.client.get_subscription(customer, drop["cspb_providersubscriptionid"]).raw
    assert dropped["autoRenewEnabled"] is False
    assert dv.get(EntitySet.SUBSCRIPTIONS, drop["cspb_subscriptionid"], select=["cspb_status"])["cspb_status"] == 3
    assert not list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid"],
                            filter=f"_cspb_transitionedfrom_value eq {drop['cspb_subscriptionid']}"))
    # A second run converts and expires nothing more.
    again = trials.run(now, dv=dv, adapters={1: sync_pc})
    assert not again.outcomes["convert: Provisioned"] and not again.outcomes["expire: Provisioned"]
    assert len(sync_pc_server.app.state.customer_state(customer).get("transitions") or []) == 1
