"""Timer: provision the change logs whose effective date has come (jobs/scheduled_changes.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_SCHEDULED_CHANGES_SCHEDULE%", run_on_startup=False)
def scheduled_changes_timer(timer: func.TimerRequest) -> None:
    from jobs.scheduled_changes import run

    report = run(datetime.now(UTC))
    log.info("scheduled changes: %d due, %s, %d left for the next run", report.due, dict(report.outcomes),
             len(report.retry_later))
