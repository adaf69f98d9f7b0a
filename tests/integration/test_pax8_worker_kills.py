"""Pax8 exactly-once under real kill -9: a provisioning worker process is killed at varied points
(before the POST, while it is in flight, after Pax8 committed and before our write-back), then the
change log is redelivered. Counts purchases per change log against intended: never 0, never 2.
Dataverse and Pax8 sandboxes over loopback; nothing is timed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from cli.demo_pax8 import map_one_company, record_acceptance
from dataverse.tables import EntitySet, Provider
from distributors.pax8 import Pax8Adapter
from sync import order_once, provisioning
from sync.provider_accounts import run_provider_account_sync
from tests.integration.test_pax8_exactly_once import _new_order

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KILLS = 10
WORKER = textwrap.dedent("""
    import sys
    from dataverse.client import DataverseClient
    from distributors.pax8 import Pax8Adapter
    from shared.auth import static_token
    from shared.http import RetryPolicy
    from sync import provisioning
    dv_url, pax8_url, log_id = sys.argv[1:4]
    dv = DataverseClient(dv_url, static_token("sandbox-token"), timeout=10.0)
    pax8 = Pax8Adapter(pax8_url, "client", "secret", retry=RetryPolicy(max_attempts=2), timeout=1.0)
    print("started", flush=True)
    print(provisioning.process_change(log_id, dv=dv, adapters={2: pax8}), flush=True)
""")


def _orders_for(state: dict[str, Any], company: str, quantity: int) -> int:
    return sum(1 for o in state["orders"] if o["companyId"] == company
               for line in o["lineItems"] if line["quantity"] == quantity)


def test_killed_workers_never_buy_twice_nor_drop(dv, dv_server, pax8_server, quick_retry, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "1")
    reset_settings()
    pax8 = Pax8Adapter(pax8_server.url, "client", "secret", retry=quick_retry, timeout=2)
    run_provider_account_sync(dv, {int(Provider.PAX8): pax8})
    company = map_one_company(dv, pax8)
    record_acceptance(dv, company)
    state, faults = pax8_server.app.sandbox.state, pax8_server.app.faults
    company_id = company.external_id or ""
    rng = random.Random(13)
    env = {**os.environ, "CSPB_MODE": "sandbox", "CSPB_HTTP_TIMEOUT_SECONDS": "1", "PYTHONPATH": str(REPO)}
    logs: list[tuple[str, int, str]] = []
    for n in range(KILLS):
        quantity = n + 1  # one quantity per change log, so each purchase is attributable
        log_id = _new_order(dv, company, quantity, f"kill-{n}")
        where = ("after-commit", "in-flight", "anywhere")[n % 3]
        if where == "after-commit":
            faults.set(timeout_after_commit=1, stall_seconds=5, path_contains="/v1/orders", method="POST")
        elif where == "in-flight":
            faults.set(latency_ms=400, path_contains="/v1/orders")
        else:
            faults.set(latency_ms=rng.choice((20, 60, 120)))
        worker = subprocess.Popen([sys.executable, "-c", WORKER, dv_server.url, pax8_server.url, log_id],
                                  cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert worker.stdout is not None and worker.stdout.readline().strip() == "started"
        deadline = time.time() + 10
        if where == "after-commit":
            while _orders_for(state, company_id, quantity) == 0 and time.time() < deadline:
                time.sleep(0.01)  # Pax8 has committed; the response is stalled: kill now
        else:
            time.sleep(rng.uniform(0.05, 0.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        logs.append((log_id, quantity, where))
    faults.clear()
    time.sleep(order_once.send_lease().total_seconds() + 0.5)  # the killed sends can no longer be in flight
    outcomes = {}
    for log_id, _quantity, _where in logs:
        for _delivery in range(2):  # redelivered, and once more as a duplicate delivery
            outcome = provisioning.process_change(log_id, dv=dv, adapters={int(Provider.PAX8): pax8})
            outcomes.setdefault(log_id, []).append(f"{outcome.status}{' (adopted)' if outcome.replayed else ''}")
    bought = {q: _orders_for(state, company_id, q) for _, q, _ in logs}
    rows = {log_id: dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["cspb_provisioningstatus",
                                                                            "cspb_providerorderid"])
            for log_id, _, _ in logs}
    adopted = sum(1 for o in outcomes.values() if any("adopted" in x for x in o))
    print(f"\nPax8 kill -9: {KILLS} kills; purchases per change log {sorted(bought.values())}; "
          f"{adopted} committed before the kill and adopted on redelivery; outcomes {list(outcomes.values())}")
    assert all(count == 1 for count in bought.values()), bought          # 0 double, 0 missing
    assert all(r["cspb_provisioningstatus"] == 2 and r["cspb_providerorderid"] for r in rows.values()), rows
    assert len({r["cspb_providerorderid"] for r in rows.values()}) == KILLS
