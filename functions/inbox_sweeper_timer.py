"""Timer: re-queue inbox rows stuck Received or Queued (CSPB_INBOX_STUCK_MINUTES without progress)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_INBOX_SWEEP_SCHEDULE%", run_on_startup=False)
def inbox_sweeper_timer(timer: func.TimerRequest) -> None:
    from jobs.webhooks import sweep_inbox

    sweep_inbox()
