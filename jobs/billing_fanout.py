"""The invoice run in Azure, fanned out: the timer prepares (contract assignment, renewals: each
safe to repeat) and enqueues one message per batch of contracts (CSPB_BILLING_BATCH, default
100); each worker invocation plans its contracts and writes their invoices in bulk
(dataverse.billing_bulk), so a run of thousands of invoices is many short invocations instead of
one that outlives the Functions timeout.

Message ids carry the run date and the batch's first contract, so a timer that fires twice the
same day enqueues nothing new; a redelivered message re-runs an idempotent run (complete invoices
are never planned again, half-written ones are finished). Each message records its own
sync run row (kind "billing", key billing:<date>:<first contract>) with counts and errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from dataverse.client import DataverseClient, client_or_default
from dataverse.stores.billing_lookups import active_contract_numbers
from shared.dates import require_date
from shared.errors import IntegrationError
from shared.queue import Queue


def batch_size() -> int:
    from shared.config import get_settings

    return max(1, int(get_settings().billing_batch))


def fan_out(run_date: date, *, dv: DataverseClient | None = None, queue: Queue | None = None, size: int | None = None,
            assign: bool = True, renew: bool = True) -> dict[str, Any]:
    """Timer side: prepare, then one message per batch of active contracts (in number order)."""
    from jobs.billing import prepare
    from shared.queue import BILLING_QUEUE, get_queue

    client = client_or_default(dv)
    queue = queue if queue is not None else get_queue(BILLING_QUEUE)
    prepared = prepare(run_date, dv=client, assign=assign, renew=renew)
    numbers = active_contract_numbers(client)
    size = size or batch_size()
    enqueued = messages = 0
    for start in range(0, len(numbers), size):
        chunk = numbers[start:start + size]
        body = {"runDate": run_date.isoformat(), "contracts": chunk}
        if queue.send(body, message_id=f"billing:{run_date.isoformat()}:{chunk[0]}:{len(chunk)}"):
            enqueued += len(chunk)
            messages += 1
    assigned = prepared.assignment.assigned if prepared.assignment is not None else 0
    return {"contracts": len(numbers), "enqueued": enqueued, "messages": messages, "assigned": assigned}


def run(run_date: date, *, dv: DataverseClient | None = None, queue: Queue | None = None) -> dict[str, Any]:
    """What the billing timer calls: fan out; with the in-process queue backend (local runs, where
    no worker listens) drain it here too, through the same handler, so a local timer still bills."""
    from shared.queue import BILLING_QUEUE, InProcessQueue, drain, get_queue

    queue = queue if queue is not None else get_queue(BILLING_QUEUE)
    out = fan_out(run_date, dv=dv, queue=queue)
    if isinstance(queue, InProcessQueue):
        drained = drain(queue, lambda m: handle_message(m.body, dv=dv))
        out["completed"], out["deadLettered"] = drained.completed, drained.dead_lettered
    return out


def handle_message(body: Mapping[str, Any], *, dv: DataverseClient | None = None) -> dict[str, Any]:
    """Worker side: bill one batch of contracts. Only RetriableError escapes (the queue re-delivers);
    anything else is recorded on the message's run row."""
    from dataverse.billing_bulk import execute_bulk_run
    from jobs.billing import global_refund
    from sync import runs as syncruns

    client = client_or_default(dv)
    run_date = require_date(body.get("runDate"), "runDate")
    contracts = [str(c) for c in body.get("contracts") or []]
    if not contracts:
        return {"invoices": 0}
    record = syncruns.start(client, "billing", f"billing:{run_date.isoformat()}:{contracts[0]}:{len(contracts)}")
    try:
        result = execute_bulk_run(client, run_date, global_refund=global_refund(), contract_numbers=contracts)
    except IntegrationError as exc:
        record.error(str(exc))
        syncruns.finish(record, failed=True)
        raise
    record.counts.update({"contracts": len(contracts), "invoices": result.created, "resumed": result.resumed,
                          "lines": result.lines_written, "revenueEntries": result.revenue_entries})
    for contract, message in result.errors:
        record.error(f"{contract}: {message}")
    syncruns.finish(record)
    return dict(record.counts)
