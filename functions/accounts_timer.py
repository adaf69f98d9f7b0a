"""Timer: daily provider account sync (Partner Center + distributors -> provider accounts in Dynamics)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_ACCOUNTS_SCHEDULE%", run_on_startup=False)
def accounts_timer(timer: func.TimerRequest) -> None:
    from jobs import sync as jobs

    jobs.accounts()
