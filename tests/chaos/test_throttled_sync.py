"""Subscription sync under emulated Dataverse service protection: messages run out of retries half-way,
are redelivered, and still every new subscription ends with its initial change log (0 lost)."""

from __future__ import annotations

import pytest

from dataverse.tables import ChangeOrigin, ChangeType, EntitySet
from sandbox.dataverse.service_protection import Limits, ServiceProtection
from shared.queue import InProcessQueue
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration


def test_no_change_log_is_lost_when_messages_exhaust_their_retries(dv_server, sync_pc) -> None:
    from dataverse.client import DataverseClient
    from shared.auth import static_token
    from shared.http import RetryPolicy

    # Give up fast (2 attempts, at most 50 ms of Retry-After honoured) so messages do exhaust.
    dv = DataverseClient(dv_server.url, static_token("sandbox-token"), timeout=10.0,
                         retry=RetryPolicy(max_attempts=2, base_seconds=0.005, cap_seconds=0.02,
                                           max_retry_after=0.05))
    for company in sync_pc.list_companies():
        dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: sync_pc})

    dv_server.app.protection = ServiceProtection(Limits(requests=4, window_seconds=1.0, concurrent=2))
    queue = InProcessQueue("subsync-throttled", max_deliveries=200)
    result = run_subscription_sync(dv, {1: sync_pc}, queue=queue, workers=3)
    refused = dv_server.app.protection
    dv_server.app.protection = None

    subs = list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_providersubscriptionid"],
                        filter="cspb_kind eq 1"))
    initial = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=["_cspb_subscription_value"],
                           filter=f"cspb_changetype eq {int(ChangeType.NEW)} and "
                                  f"cspb_origin eq {int(ChangeOrigin.PROVIDER_SYNC)}"))
    logged = {row["_cspb_subscription_value"] for row in initial}
    lost = [s["cspb_providersubscriptionid"] for s in subs if s["cspb_subscriptionid"] not in logged]
    redelivered = sum(1 for count in queue._counts.values() if count > 1)
    print(f"\nthrottled sync: {len(subs)} subscriptions, {len(initial)} initial change logs, lost {len(lost)}, "
          f"{redelivered} message(s) redelivered after exhausting retries, run {result.get('status')}, "
          f"refusals {getattr(refused, 'refused', '?')}")
    assert subs, "the sync wrote nothing"
    assert redelivered >= 1, "no message ran out of retries: the test did not test the half-done case"
    assert lost == []
    assert len(initial) == len(logged)  # one initial log per subscription, none twice
