"""Timer: the daily invoice run, fanned out: prepare, then one queue message per batch of
contracts for functions/billing_worker.py (bills every contract cycle due today; idempotent)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from shared.errors import IntegrationError, RetriableError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_BILLING_SCHEDULE%", run_on_startup=False)
def billing_timer(timer: func.TimerRequest) -> None:
    from jobs import billing_fanout

    try:
        billing_fanout.run(datetime.now(UTC).date())
    except RetriableError:
        raise
    except IntegrationError as exc:
        # Recorded on the sync run row; a retry would fail the same way.
        log.error("billing run failed: %s", exc)
