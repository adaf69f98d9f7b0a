"""Timer: the daily dunning run (reminders, charge retries, final notices, suspension review tasks)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_DUNNING_SCHEDULE%", run_on_startup=False)
def dunning_timer(timer: func.TimerRequest) -> None:
    from jobs.dunning import run

    report = run(datetime.now(UTC).date())
    log.info("dunning: %d overdue invoices, done %s, %d failed", report.invoices_overdue, dict(report.done),
             len(report.failed))
