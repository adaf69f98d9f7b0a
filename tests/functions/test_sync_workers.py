"""Queue and timer triggers of the sync area, called the way the host calls them."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from functions.provisioning_worker import provisioning_worker
from functions.subscription_sync_timer import subscription_sync_timer
from functions.subscription_sync_worker import subscription_sync_worker
from shared.errors import RetriableError
from shared.queue import SUBSCRIPTION_SYNC_QUEUE, get_queue


def test_timer_fans_out_batches_and_the_worker_syncs_its_accounts(sync_worker_env, dv, sync_pc, monkeypatch) -> None:
    from shared.config import reset_settings
    from sync.provider_accounts import run_provider_account_sync

    monkeypatch.setenv("CSPB_SUBSCRIPTION_SYNC_BATCH", "3")
    reset_settings()
    run_provider_account_sync(dv, {1: sync_pc})
    subscription_sync_timer.build().get_user_function()(TimerRequest(past_due=False))
    messages = get_queue(SUBSCRIPTION_SYNC_QUEUE).receive()
    assert [len(m.body["accounts"]) for m in messages] == [3, 1]  # 4 tenants, 3 per message
    assert all(m.body["catalogVersion"] is not None for m in messages)
    body = json.dumps(messages[0].body).encode()
    subscription_sync_worker.build().get_user_function()(func.ServiceBusMessage(body=body))
    rows = list(dv.list("cspb_subscriptions", select=["_cspb_provideraccount_value"]))
    assert rows and {r["_cspb_provideraccount_value"] for r in rows} == {
        a["providerAccountId"] for a in messages[0].body["accounts"]}


def test_a_message_from_before_batching_still_syncs_its_one_account(sync_worker_env, dv, sync_pc) -> None:
    from sync.provider_accounts import run_provider_account_sync

    run_provider_account_sync(dv, {1: sync_pc})
    account = next(iter(dv.list("cspb_provideraccounts", select=["cspb_provideraccountid", "cspb_externalid"])))
    old = {"runKey": "old-run", "providerAccountId": account["cspb_provideraccountid"], "provider": 1,
           "externalId": account["cspb_externalid"], "currency": "USD"}
    subscription_sync_worker.build().get_user_function()(func.ServiceBusMessage(body=json.dumps(old).encode()))
    rows = list(dv.list("cspb_subscriptions", select=["_cspb_provideraccount_value"]))
    assert rows and {r["_cspb_provideraccount_value"] for r in rows} == {account["cspb_provideraccountid"]}


def test_provisioning_worker_records_fatal_errors_and_lets_retriable_ones_escape(sync_worker_env, dv, dv_server) -> None:
    worker = provisioning_worker.build().get_user_function()
    log_id = dv.create("cspb_licensechangelogs", {"cspb_changekey": "orphan", "cspb_name": "orphan",
                                                  "cspb_changetype": 2, "cspb_newquantity": 3,
                                                  "cspb_provisioningstatus": 1, "cspb_origin": 1})
    worker(func.ServiceBusMessage(body=json.dumps({"entity": "cspb_licensechangelog", "recordId": log_id}).encode()))
    row = dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus", "cspb_error"])
    assert row["cspb_provisioningstatus"] == 3 and "no subscription" in row["cspb_error"]

    dv_server.app.faults.set(fail_every=1)
    with pytest.raises(RetriableError):
        worker(func.ServiceBusMessage(body=json.dumps({"entity": "cspb_licensechangelog",
                                                       "recordId": log_id}).encode()))
    dv_server.app.faults.clear()
