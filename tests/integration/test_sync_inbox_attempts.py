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


def test_replay_by_id_and_since_requeues_failed_rows_and_provisions_once(dv, sync_pc, sync_pc_server) -> None:
    from datetime import UTC, datetime, timedelta

    from sync import inbox

    log_id, inbox_id, message = _seat_change(dv, sync_pc)
    queue = InProcessQueue("replay", max_deliveries=2)
    queue.send(message, message_id=message["eventKey"])
    sync_pc_server.app.faults.set(fail_every=1, method="PATCH")
    drain(queue, _handler(dv, sync_pc, queue))
    sync_pc_server.app.faults.clear()
    assert _inbox(dv, inbox_id)["cspb_status"] == inbox.InboxStatus.FAILED

    first = inbox.replay(dv, queue, inbox_id=inbox_id)
    assert first.requeued == [inbox_id] and _inbox(dv, inbox_id)["cspb_status"] == inbox.InboxStatus.QUEUED
    assert _inbox(dv, inbox_id)["cspb_attempts"] == 0
    again = inbox.replay(dv, queue, inbox_id=inbox_id)  # not Failed any more: nothing sent twice
    assert again.requeued == [] and "not Failed" in again.skipped[0][1]
    result = drain(queue, _handler(dv, sync_pc, queue))
    assert result.completed == 1
    assert _inbox(dv, inbox_id)["cspb_status"] == inbox.InboxStatus.PROCESSED
    assert dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus"])["cspb_provisioningstatus"] == 2

    # Nothing Failed is left, so a replay by time finds nothing.
    since = inbox.replay(dv, queue, since=datetime.now(UTC) - timedelta(days=1))
    assert since.requeued == []


def test_replay_since_picks_failed_rows_received_after_the_time(dv) -> None:
    from datetime import UTC, datetime, timedelta

    from sync import inbox

    queue = InProcessQueue("replay-since")
    old = dv.create("cspb_inboxes", {"cspb_eventkey": "old", "cspb_status": 4, "cspb_entityname": "cspb_licensechangelog",
                                     "cspb_recordid": "00000000-0000-0000-0000-000000000001",
                                     "cspb_receivedon": "2026-01-01T00:00:00Z"})
    new = dv.create("cspb_inboxes", {"cspb_eventkey": "new", "cspb_status": 4, "cspb_entityname": "cspb_licensechangelog",
                                     "cspb_recordid": "00000000-0000-0000-0000-000000000002",
                                     "cspb_receivedon": datetime.now(UTC).isoformat()})
    out = inbox.replay(dv, queue, since=datetime.now(UTC) - timedelta(hours=1))
    assert out.requeued == [new] and len(queue) == 1
    assert dv.get("cspb_inboxes", old, select=["cspb_status"])["cspb_status"] == 4


def test_sweeper_requeues_rows_stuck_received_or_queued_and_only_those(dv) -> None:
    from datetime import UTC, datetime, timedelta

    from sync import inbox

    queue = InProcessQueue("sweep")
    rows = {}
    for name, status in (("received", 1), ("queued", 2), ("processed", 3), ("failed", 4)):
        rows[name] = dv.create("cspb_inboxes", {
            "cspb_eventkey": f"k-{name}", "cspb_status": status, "cspb_entityname": "cspb_licensechangelog",
            "cspb_recordid": "00000000-0000-0000-0000-00000000000a"})
    assert inbox.sweep(dv, queue, minutes=30).requeued == []  # fresh rows are not stuck
    later = datetime.now(UTC) + timedelta(minutes=31)
    out = inbox.sweep(dv, queue, minutes=30, now=later)
    assert sorted(out.requeued) == sorted([rows["received"], rows["queued"]])
    assert len(queue) == 2
    assert "sweeper" in dv.get("cspb_inboxes", rows["received"], select=["cspb_error"])["cspb_error"]
    # The re-queue counts as progress: the clock starts again for those rows.
    assert inbox.sweep(dv, queue, minutes=30, now=datetime.now(UTC) + timedelta(minutes=29)).requeued == []
