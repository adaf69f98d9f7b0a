"""Partner Center purchases under injected network faults and real worker kills: every intended order
is bought exactly once (0 double, 0 missing), counted at the Partner Center sandbox.

- faults: a proxy between the worker and Partner Center drops answers after the commit, delivers
  requests twice, delays and refuses them (>= 40 faults over the run);
- kills: a worker process is killed with SIGKILL mid-work 10 times; the queue (Azurite) redelivers its
  message to the next worker after the visibility timeout."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from itertools import cycle
from pathlib import Path

import pytest

from shared.queue import InProcessQueue, StorageQueue, drain
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from tests.chaos.proxy import FaultProxy

pytestmark = pytest.mark.integration

BASIC = ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J")
REPO = Path(__file__).resolve().parents[2]


def _accounts(dv, pc) -> list[str]:
    for company in pc.list_companies():
        dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: pc})
    ids = []
    for row in dv.list("cspb_provideraccounts", select=["cspb_provideraccountid"]):
        dv.update("cspb_provideraccounts", row["cspb_provideraccountid"], {"cspb_mcaattested": True})
        ids.append(row["cspb_provideraccountid"])
    return ids


def _orders(dv, account_ids: list[str], n: int, tag: str) -> list[dict]:
    """n rep orders (new subscription + its New change log), spread over the accounts; queue messages."""
    messages = []
    for i in range(n):
        account = account_ids[i % len(account_ids)]
        sub = dv.create("cspb_subscriptions", {
            "cspb_name": f"chaos {tag} {i}", "cspb_provider": 1, "cspb_productid": BASIC[0], "cspb_skuid": BASIC[1],
            "cspb_availabilityid": BASIC[2], "cspb_term": "P1Y", "cspb_billingfrequency": "P1M", "cspb_status": 5,
            "cspb_kind": 1, "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account})"})
        log = dv.create("cspb_licensechangelogs", {
            "cspb_changekey": f"chaos-{tag}-{i}", "cspb_name": f"chaos {i}", "cspb_changetype": 1,
            "cspb_newquantity": 1 + i % 5, "cspb_origin": 1, "cspb_provisioningstatus": 1,
            "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub})"})
        messages.append({"entity": "cspb_licensechangelog", "recordId": log, "eventKey": f"chaos-{tag}-{i}"})
    return messages


def _tally(dv, pc_server, messages: list[dict], checkouts_before: int) -> dict[str, int]:
    logs = [dv.get("cspb_licensechangelogs", m["recordId"], select=["cspb_provisioningstatus", "cspb_providerorderid"])
            for m in messages]
    provisioned = [log for log in logs if log["cspb_provisioningstatus"] == 2 and log["cspb_providerorderid"]]
    orders = [log["cspb_providerorderid"] for log in provisioned]
    purchases = pc_server.app.state.checkouts - checkouts_before
    return {"intended": len(messages), "purchases": purchases, "provisioned": len(provisioned),
            "double": max(0, purchases - len(messages)) + (len(orders) - len(set(orders))),
            "missing": len(messages) - len(provisioned)}


def test_injected_faults_never_buy_twice_or_drop_an_order(dv, sync_pc_server, fault_proxy) -> None:
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.auth import static_token
    from shared.http import RetryPolicy

    pattern = cycle(["drop_after_commit", "pass", "duplicate", "delay", "pass", "refuse", "drop_after_commit",
                     "duplicate", "pass"])
    proxy: FaultProxy = fault_proxy(sync_pc_server.url, plan=lambda method, path: "pass", delay_seconds=0.3)
    retry = RetryPolicy(max_attempts=6, base_seconds=0.01, cap_seconds=0.05, max_retry_after=0.05)
    pc = PartnerCenterAdapter(proxy.url, static_token("sandbox-token"), retry=retry, timeout=2.0)
    account_ids = _accounts(dv, pc)
    messages = _orders(dv, account_ids, 16, "faults")
    before = sync_pc_server.app.state.checkouts
    proxy.plan = lambda method, path: next(pattern)
    queue = InProcessQueue("chaos-pc", max_deliveries=10)
    for m in messages:
        queue.send(m, message_id=m["eventKey"])
    drain(queue, lambda msg: provisioning.handle_message(msg.body, dv=dv, adapters={1: pc},
                                                        delivery_count=msg.delivery_count, max_attempts=10))
    proxy.plan = lambda method, path: "pass"
    tally = _tally(dv, sync_pc_server, messages, before)
    faults = sum(n for kind, n in proxy.faults.items() if kind != "pass")
    print(f"\npartner center faults: {dict(proxy.faults)} -> {faults} faults; {tally}")
    assert faults >= 40
    assert tally["double"] == 0 and tally["missing"] == 0 and tally["purchases"] == tally["intended"]


def test_worker_killed_ten_times_then_redelivered_buys_each_order_once(dv, dv_server, sync_pc_server, fault_proxy,
                                                                         azurite) -> None:
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from shared.auth import static_token

    # Slow Partner Center a little so a kill lands in the middle of a message, not between messages.
    rng = random.Random(13)
    proxy = fault_proxy(sync_pc_server.url, plan=lambda method, path: "delay" if rng.random() < 0.5 else "pass",
                        delay_seconds=0.25)
    pc = PartnerCenterAdapter(proxy.url, static_token("sandbox-token"), timeout=5.0)
    account_ids = _accounts(dv, pc)
    messages = _orders(dv, account_ids, 10, "kills")
    before = sync_pc_server.app.state.checkouts
    name = "chaos" + uuid.uuid4().hex[:10]
    queue = StorageQueue(azurite, name, max_deliveries=50)
    for m in messages:
        assert queue.send(m, message_id=m["eventKey"])
    env = {**os.environ, "CHAOS_QUEUE_CONN": azurite, "CHAOS_QUEUE": name, "CHAOS_DV_URL": dv_server.url,
           "CHAOS_PC_URL": proxy.url, "CHAOS_VISIBILITY": "2", "CHAOS_IDLE_SECONDS": "1000", "PYTHONPATH": str(REPO)}
    kills = 0
    for _ in range(10):
        worker = subprocess.Popen([sys.executable, "-m", "tests.chaos.worker"], cwd=REPO, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.3, 1.2))
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        kills += worker.returncode == -signal.SIGKILL
    # The last worker finishes what the killed ones left, including messages whose visibility must lapse.
    final = subprocess.run([sys.executable, "-m", "tests.chaos.worker"], cwd=REPO,
                           env={**env, "CHAOS_IDLE_SECONDS": "5"}, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-2000:]
    tally = _tally(dv, sync_pc_server, messages, before)
    print(f"\nworker kills: {kills} real SIGKILLs; {tally}; proxy {dict(proxy.faults)}")
    assert kills == 10
    assert tally["double"] == 0 and tally["missing"] == 0 and tally["purchases"] == tally["intended"]
