"""cspb_inbox.cspb_attempts counts every processing attempt; a delivery that exhausts the queue's
deliveries is marked Failed with the last error, its payload kept (nothing lost)."""

from __future__ import annotations

import pytest

from shared.queue import InProcessQueue, drain
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration


def _seat_change(dv, pc) -> tuple[str, str, dict]:
    company = next(iter(pc.list_companies()))
    dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: pc})
    run_subscription_sync(dv, {1: pc})
    account = dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": company.id},
                            select=["cspb_provideraccountid"])
    sub = next(s for s in dv.list("cspb_subscriptions", select=["cspb_subscriptionid", "cspb_quantity"],
                                  filter=f"cspb_status eq 1 and cspb_kind eq 1 and "
                                         f"_cspb_provideraccount_value eq {account['cspb_provideraccountid']}"))
    log_id = dv.create("cspb_licensechangelogs", {
        "cspb_changekey": "rep-up-attempts", "cspb_name": "rep adds a seat", "cspb_changetype": 2,
        "cspb_oldquantity": sub["cspb_quantity"], "cspb_newquantity": sub["cspb_quantity"] + 1, "cspb_origin": 1,
        "cspb_provisioningstatus": 1, "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub['cspb_subscriptionid']})"})
    inbox_id = dv.create("cspb_inboxes", {
        "cspb_eventkey": f"evt-{log_id}", "cspb_name": "Create cspb_licensechangelog", "cspb_status": 2,
        "cspb_entityname": "cspb_licensechangelog", "cspb_recordid": log_id, "cspb_payload": '{"test": true}',
        "cspb_attempts": 0})
    message = {"entity": "cspb_licensechangelog", "recordId": log_id, "inboxId": inbox_id, "eventKey": f"evt-{log_id}"}
    return log_id, inbox_id, message


def _handler(dv, pc, queue):
    return lambda m: provisioning.handle_message(m.body, dv=dv, adapters={1: pc}, delivery_count=m.delivery_count,
                                                 max_attempts=queue.max_deliveries)


def _inbox(dv, inbox_id: str) -> dict:
    return dv.get("cspb_inboxes", inbox_id, select=["cspb_attempts", "cspb_status", "cspb_error", "cspb_payload"])


def test_attempts_count_and_an_exhausted_delivery_is_failed_with_the_last_error(dv, sync_pc, sync_pc_server) -> None:
    log_id, inbox_id, message = _seat_change(dv, sync_pc)
    queue = InProcessQueue("attempts", max_deliveries=3)
    queue.send(message, message_id=message["eventKey"])

    sync_pc_server.app.faults.set(fail_every=1, method="PATCH")  # Partner Center keeps answering 500
    result = drain(queue, _handler(dv, sync_pc, queue))
    sync_pc_server.app.faults.clear()

    assert result.retried == 2 and result.dead_lettered == 1 and len(queue.dead_letters()) == 1
    row = _inbox(dv, inbox_id)
    assert row["cspb_attempts"] == 3 and row["cspb_status"] == 4
    assert "gave up after 3 attempts" in row["cspb_error"] and "last error" in row["cspb_error"]
    assert row["cspb_payload"] == '{"test": true}'
    # The change itself is still Awaiting with its key: a redelivery (or a person) can finish it.
    change = dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus", "cspb_idempotencykey"])
    assert change["cspb_provisioningstatus"] == 1 and change["cspb_idempotencykey"]

    queue.send(message, message_id=message["eventKey"] + "-redrive")
    assert drain(queue, _handler(dv, sync_pc, queue)).completed == 1
    row = _inbox(dv, inbox_id)
    assert row["cspb_attempts"] == 4 and row["cspb_status"] == 3
    assert dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus"])["cspb_provisioningstatus"] == 2


def test_a_retry_that_succeeds_counts_both_attempts(dv, sync_pc, sync_pc_server) -> None:
    _, inbox_id, message = _seat_change(dv, sync_pc)
    queue = InProcessQueue("attempts-ok", max_deliveries=5)
    queue.send(message, message_id=message["eventKey"])
    sync_pc_server.app.faults.set(fail_every=1, method="PATCH")
    first = drain(queue, _handler(dv, sync_pc, queue), max_rounds=1)
    assert first.retried == 1
    row = _inbox(dv, inbox_id)
    assert row["cspb_attempts"] == 1 and row["cspb_status"] == 2 and row["cspb_error"].startswith("will retry")
    sync_pc_server.app.faults.clear()
    assert drain(queue, _handler(dv, sync_pc, queue)).completed == 1
    row = _inbox(dv, inbox_id)
    assert row["cspb_attempts"] == 2 and row["cspb_status"] == 3
