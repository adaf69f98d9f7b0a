"""cspb_syncrun: one row per job run, written at the start (Running) and at the end (counts, errors)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataverse.tables import EntitySet
from sync.records import iso

RUNNING, SUCCEEDED, FAILED, PARTIAL = 1, 2, 3, 4
MAX_ERRORS_KEPT = 50

Progress = Callable[[int], None]


def no_progress(_: int) -> None:
    return None


@dataclass
class SyncRun:
    kind: str
    dv: Any
    run_key: str = ""
    run_id: str | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    status: int = RUNNING

    def bump(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by

    def error(self, message: str) -> None:
        self.errors.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "runKey": self.run_key, "status": {1: "Running", 2: "Succeeded", 3: "Failed",
                                                                       4: "PartiallySucceeded"}[self.status],
                "counts": dict(self.counts), "errors": list(self.errors)}


def start(dv: Any, kind: str, run_key: str | None = None) -> SyncRun:
    run = SyncRun(kind, dv)
    run.run_key = run_key or f"{kind}:{run.started:%Y%m%dT%H%M%SZ}:{uuid.uuid4().hex[:8]}"
    result = dv.upsert(EntitySet.SYNC_RUNS, {"cspb_runkey": run.run_key}, {
        "cspb_name": run.run_key[:100], "cspb_kind": kind, "cspb_startedon": iso(run.started), "cspb_status": RUNNING,
    })
    run.run_id = result.id
    return run


def succeeded(dv: Any, run_key: str) -> bool:
    """Whether the run (or checkpoint) under `run_key` already finished successfully."""
    row = dv.get_by_key(EntitySet.SYNC_RUNS, {"cspb_runkey": run_key}, select=["cspb_status"])
    return row is not None and row.get("cspb_status") == SUCCEEDED


def finish(run: SyncRun, *, failed: bool = False) -> SyncRun:
    if failed:
        run.status = FAILED
    else:
        run.status = PARTIAL if run.errors else SUCCEEDED
    run.dv.update(EntitySet.SYNC_RUNS, run.run_id, {
        "cspb_endedon": iso(datetime.now(UTC)), "cspb_status": run.status,
        "cspb_counts": json.dumps(run.counts, sort_keys=True), "cspb_errorcount": len(run.errors),
        "cspb_errors": "\n".join(run.errors[:MAX_ERRORS_KEPT]) or None,
    })
    return run
