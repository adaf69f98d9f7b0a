"""Timer: on the 1st of each month, release last month's deferred revenue into the accounting system
(or keep the journal CSV in Blob Storage when no target is configured)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from shared.errors import IntegrationError, RetriableError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_JOURNAL_EXPORT_SCHEDULE%", run_on_startup=False)
def journal_export_timer(timer: func.TimerRequest) -> None:
    from jobs.journal_export import export_last_month

    try:
        result = export_last_month(datetime.now(UTC).date())
    except RetriableError:
        raise
    except IntegrationError as exc:
        log.error("deferred revenue journal export failed: %s", exc)
        return
    log.info("deferred revenue journal %s: %d entries, %s", result.month, result.entries,
             f"pushed to {result.pushed_to}" if result.pushed_to else f"kept at {result.blob_path}")
