"""The sync run record: one row per job run, written at the start (Running) and at the end (counts, errors)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores import sync_runs

RUNNING, SUCCEEDED, FAILED, PARTIAL = 1, 2, 3, 4
MAX_ERRORS_KEPT = 50

Progress = Callable[[int], None]


def no_progress(_: int) -> None:
    return None


@dataclass
class SyncRun:
    kind: str
    dv: DataverseClient
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


def start(dv: DataverseClient, kind: str, run_key: str | None = None) -> SyncRun:
    run = SyncRun(kind, dv)
    run.run_key = run_key or f"{kind}:{run.started:%Y%m%dT%H%M%SZ}:{uuid.uuid4().hex[:8]}"
    run.run_id = sync_runs.start_run(dv, run.run_key, kind, run.started)
    return run


def succeeded(dv: DataverseClient, run_key: str) -> bool:
    """Whether the run (or checkpoint) under `run_key` already finished successfully."""
    return sync_runs.run_succeeded(dv, run_key)


def finish(run: SyncRun, *, failed: bool = False) -> SyncRun:
    if failed:
        run.status = FAILED
    else:
        run.status = PARTIAL if run.errors else SUCCEEDED
    sync_runs.finish_run(run.dv, str(run.run_id), ended=datetime.now(UTC), status=run.status, counts=run.counts,
                         errors=run.errors, keep=MAX_ERRORS_KEPT)
    return run
