"""cspb_syncrun rows: one per job run (or per checkpointed piece of one), keyed by its run key so a
redelivered message finds the row it wrote before."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet, SyncRunStatus
from shared.dates import iso


def start_run(dv: DataverseClient, run_key: str, kind: str, started: datetime) -> str:
    """Write (or rewrite) the run's row as Running; its id."""
    return dv.upsert(EntitySet.SYNC_RUNS, {"cspb_runkey": run_key}, {
        "cspb_name": run_key[:100], "cspb_kind": kind, "cspb_startedon": iso(started),
        "cspb_status": int(SyncRunStatus.RUNNING),
    }).id


def run_succeeded(dv: DataverseClient, run_key: str) -> bool:
    """Whether the run (or checkpoint) under `run_key` already finished successfully."""
    row = dv.get_by_key(EntitySet.SYNC_RUNS, {"cspb_runkey": run_key}, select=["cspb_status"])
    return row is not None and row.get("cspb_status") == SyncRunStatus.SUCCEEDED


def finish_run(dv: DataverseClient, run_id: str, *, ended: datetime, status: int, counts: Mapping[str, int],
               errors: Sequence[str], keep: int) -> None:
    """The run's end: status, counts (as JSON) and the first `keep` errors (all of them are counted)."""
    dv.update(EntitySet.SYNC_RUNS, run_id, {
        "cspb_endedon": iso(ended), "cspb_status": status,
        "cspb_counts": json.dumps(dict(counts), sort_keys=True), "cspb_errorcount": len(errors),
        "cspb_errors": "\n".join(errors[:keep]) or None,
    })
