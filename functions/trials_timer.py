"""Timer: trials that ended convert to paid or expire (jobs/trials.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_TRIALS_SCHEDULE%", run_on_startup=False)
def trials_timer(timer: func.TimerRequest) -> None:
    from jobs.trials import run

    report = run(datetime.now(UTC))
    log.info("trials: %d ended, %s, %d left for the next run", report.ended, dict(report.outcomes),
             len(report.retry_later))
