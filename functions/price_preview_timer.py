"""Timer: next month's price sheet compared with the one in force (HTML report + CSV in Blob Storage)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_PRICE_PREVIEW_SCHEDULE%", run_on_startup=False)
def price_preview_timer(timer: func.TimerRequest) -> None:
    from jobs import sync as jobs

    jobs.price_preview()
