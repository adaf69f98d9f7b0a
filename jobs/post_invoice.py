"""The post-invoice jobs (send, charge, accounting push) for every invoice that has one left."""

from __future__ import annotations

from datetime import date


def run_pending(today: date) -> dict[str, dict[str, str]]:
    """Each job is idempotent and records its outcome on the invoice; one that fails retriably is
    marked "will retry" and runs again on the next tick, so one slow invoice never stops the rest.
    `today` is the run's day: the send stamp and the payment date."""
    from accounting.post_invoice import run_pending as run

    return run(today)
