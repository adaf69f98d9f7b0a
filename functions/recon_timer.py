"""Timer: daily recon ingest (Graph billing exports -> Blob Storage, usage summaries, margin report)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.functions as func

from shared.errors import IntegrationError, RetriableError

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_RECON_SCHEDULE%", run_on_startup=False)
def recon_timer(timer: func.TimerRequest) -> None:
    from jobs import recon

    try:
        recon.scheduled(datetime.now(UTC).date())
    except RetriableError:
        raise
    except IntegrationError as exc:
        # Recorded on the sync run row; retrying would fail the same way.
        log.error("recon run failed: %s", exc)
