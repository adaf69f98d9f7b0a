"""Timer: daily catalog / price list sync from the Partner Center price sheet (in Azure: one queue
message per market, drained by catalog_worker)."""

from __future__ import annotations

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(arg_name="timer", schedule="%CSPB_CATALOG_SCHEDULE%", run_on_startup=False)
def catalog_timer(timer: func.TimerRequest) -> None:
    from jobs import sync as jobs

    jobs.catalog_scheduled()
