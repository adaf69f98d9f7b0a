"""Timer trigger: post-invoice jobs (send, charge, accounting push) for every invoice with a job
left. Each job is idempotent and records its outcome on the invoice; a RetriableError reaches
the host only after every invoice was tried."""

from __future__ import annotations

from datetime import UTC, datetime

import azure.functions as func

bp = func.Blueprint()


@bp.timer_trigger(schedule="%CSPB_POST_INVOICE_SCHEDULE%", arg_name="timer", run_on_startup=False)
def post_invoice_timer(timer: func.TimerRequest) -> None:
    from jobs.post_invoice import run_pending

    run_pending(datetime.now(UTC).date())
