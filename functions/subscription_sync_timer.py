"""Timer: subscription sync fan-out, one queue message per provider account."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_SUBSCRIPTION_SYNC_SCHEDULE%", run_on_startup=False)
def subscription_sync_timer(timer: func.TimerRequest) -> None:
    from jobs import sync as jobs

    jobs.subscriptions_fan_out()
