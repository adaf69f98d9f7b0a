"""Timer: the monthly KPI snapshot (history for the assessment's trend chart)."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.errors import IntegrationError, RetriableError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_KPI_SNAPSHOT_SCHEDULE%", run_on_startup=False)
def assessment_timer(timer: func.TimerRequest) -> None:
    from jobs.assessment import snapshot

    try:
        snapshot()
    except RetriableError:
        raise
    except IntegrationError as exc:
        # Retrying the same data fails the same way; next month's run starts fresh.
        log.error("KPI snapshot failed: %s", exc)
