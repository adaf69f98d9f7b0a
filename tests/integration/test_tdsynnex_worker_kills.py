"""TD SYNNEX exactly-once under real kill -9 and lost responses: a provisioning worker process is
killed at varied points (while the CREATE is in flight, after TD SYNNEX committed and before our
write-back, anywhere), then each change log is redelivered twice. Purchases are counted per change
log by the reference we put on every order: never 0, never 2. Every change log orders the same
product and quantity, so only the reference tells them apart. Nothing is timed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dataverse.tables import EntitySet, Provider
from sync import order_once, provisioning
from sync.provider_accounts import run_provider_account_sync
from tests.integration.test_distributors_tdsynnex import _new_order

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 9
TD = int(Provider.TDSYNNEX)
# The worker uses the parent's access token: this test is about orders (token loss has its own tests).
WORKER = textwrap.dedent("""
    import sys
    from dataverse.client import DataverseClient
    from distributors.tdsynnex import TdSynnexAdapter
    from shared.auth import static_token
    from shared.http import RetryPolicy
    from sync import provisioning
    dv_url, td_url, access, log_id = sys.argv[1:5]
    dv = DataverseClient(dv_url, static_token("sandbox-token"), timeout=10.0)
    td = TdSynnexAdapter(td_url, "5212", lambda: access, retry=RetryPolicy(max_attempts=2), timeout=1.0)
    print("started", flush=True)
    print(provisioning.process_change(log_id, dv=dv, adapters={4: td}), flush=True)
""")


def test_killed_workers_never_buy_twice_nor_drop(dv, dv_server, tdsynnex, tdsynnex_server, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "1")
    reset_settings()
    dv.create(EntitySet.ACCOUNTS, {"name": "Litware Inc", "cspb_domain": "litware.example"})
    run_provider_account_sync(dv, {TD: tdsynnex})
    company = next(r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid",
                                                                           "cspb_externalid"],
                                      filter=f"cspb_provider eq {TD}") if r["cspb_externalid"] == "49958")
    access = tdsynnex.http.token_provider()
    state, faults = tdsynnex_server.app.sandbox.state, tdsynnex_server.app.faults
    rng = random.Random(19)
    env = {**os.environ, "CSPB_MODE": "sandbox", "CSPB_HTTP_TIMEOUT_SECONDS": "1", "PYTHONPATH": str(REPO)}
    logs: list[tuple[str, str]] = []

    def bought(log_id: str) -> int:
        key = provisioning.idempotency_key_for(log_id)
        return sum(1 for o in state["orders"] if o.get("referenceId") == key)

    for n in range(KILLS):
        log_id = _new_order(dv, company, 3, f"kill-{n}")
        where = ("after-commit", "in-flight", "anywhere")[n % 3]
        if where == "after-commit":
            faults.set(timeout_after_commit=1, stall_seconds=5, path_contains="/orders", method="POST")
        elif where == "in-flight":
            faults.set(latency_ms=400, path_contains="/orders")
        else:
            faults.set(latency_ms=rng.choice((20, 60, 120)))
        worker = subprocess.Popen([sys.executable, "-c", WORKER, dv_server.url, tdsynnex_server.url, access, log_id],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        deadline = time.time() + 10
        if where == "after-commit":
            while bought(log_id) == 0 and time.time() < deadline:
                time.sleep(0.01)  # TD SYNNEX has committed; the response is stalled: kill now
        else:
            time.sleep(rng.uniform(0.05, 0.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        logs.append((log_id, where))
    faults.clear()
    # A lost response on a live worker, too: the same attempt finds the order by its reference.
    lost = _new_order(dv, company, 3, "lost-response")
    faults.set(timeout_after_commit=1, stall_seconds=3, path_contains="/orders", method="POST")
    assert provisioning.process_change(lost, dv=dv, adapters={TD: tdsynnex}).status == "Provisioned"
    faults.clear()
    logs.append((lost, "lost-response"))
    time.sleep(order_once.send_lease().total_seconds() + 0.5)  # the killed sends can no longer be in flight
    outcomes: dict[str, list[str]] = {}
    for log_id, _where in logs:
        for _delivery in range(2):  # redelivered, and once more as a duplicate delivery
            outcome = provisioning.process_change(log_id, dv=dv, adapters={TD: tdsynnex})
            outcomes.setdefault(log_id, []).append(f"{outcome.status}{' (adopted)' if outcome.replayed else ''}")
    counts = {log_id: bought(log_id) for log_id, _ in logs}
    rows = {log_id: dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["cspb_provisioningstatus",
                                                                            "cspb_providerorderid"])
            for log_id, _ in logs}
    adopted = sum(1 for o in outcomes.values() if any("adopted" in x for x in o))
    print(f"\nTD SYNNEX kill -9: {KILLS} kills + 1 lost response; purchases per change log "
          f"{sorted(counts.values())}; {adopted} committed before the kill and adopted on redelivery; "
          f"outcomes {list(outcomes.values())}")
    assert all(count == 1 for count in counts.values()), counts          # 0 double, 0 missing
    assert all(r["cspb_provisioningstatus"] == 2 and r["cspb_providerorderid"] for r in rows.values()), rows
    assert len({r["cspb_providerorderid"] for r in rows.values()}) == len(logs)
    assert len(state["orders"]) == len(logs)
