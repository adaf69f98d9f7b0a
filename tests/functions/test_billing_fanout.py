"""The invoice run fanned out: the billing timer enqueues batches of contracts, the billing worker
bills each batch in bulk; together they bill what the one-process run bills, and a redelivered
batch bills nothing twice."""

from __future__ import annotations

import json
from datetime import date

import azure.functions as func
import pytest

from billing.run_service import execute_run
from dataverse.billing_repo import DataverseBillingRepository
from dataverse.seed_billing import seed_billing
from dataverse.tables import EntitySet
from functions.billing_worker import billing_worker
from jobs.billing_fanout import fan_out
from shared.queue import InProcessQueue

RUN = date(2026, 1, 2)


@pytest.fixture
def env(monkeypatch, dv_server):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("CSPB_HTTP_BACKOFF_CAP_SECONDS", "0.01")
    reset_settings()
    yield
    reset_settings()


def _invoices(dv) -> list[tuple]:
    return sorted((r["cspb_invoicekey"], str(r["totalamount"]), r["statuscode"]) for r in dv.list(
        EntitySet.INVOICES, select=["cspb_invoicekey", "totalamount", "statuscode"]))


def test_timer_batches_contracts_and_workers_bill_them_once(env, dv, tmp_path) -> None:
    from dataverse.client import DataverseClient
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from shared.auth import static_token
    from tests.plugins.dataverse import fast_retry

    seed_billing(dv)
    queue = InProcessQueue("billing")
    out = fan_out(RUN, dv=dv, queue=queue, size=2, assign=False, renew=False)
    assert out["messages"] == len(queue) >= 2 and out["enqueued"] == out["contracts"]
    assert fan_out(RUN, dv=dv, queue=queue, size=2, assign=False, renew=False)["enqueued"] == 0  # same day: deduped

    worker = billing_worker.build().get_user_function()
    messages = queue.receive(32, visibility_timeout=0)
    for message in messages:
        worker(func.ServiceBusMessage(body=json.dumps(message.body).encode()))
    worker(func.ServiceBusMessage(body=json.dumps(messages[0].body).encode()))  # redelivered

    # The same partner billed in one process, per invoice, in another org.
    app = build_app(tmp_path / "reference")
    with RunningServer(app) as server:
        reference = DataverseClient(server.url, static_token("sandbox-token"), retry=fast_retry(), timeout=10.0)
        seed_billing(reference)
        execute_run(DataverseBillingRepository(reference), RUN)
        assert _invoices(dv) == _invoices(reference)
    app.close()
    runs = [r for r in dv.list(EntitySet.SYNC_RUNS, select=["cspb_kind", "cspb_runkey", "cspb_status"])
            if r["cspb_kind"] == "billing"]
    assert len(runs) == len(messages) and all(r["cspb_status"] == 2 for r in runs)
