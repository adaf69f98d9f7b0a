"""A re-ingest of a month's usage replaces that month: Microsoft revises usage after month-end
(late-arriving usage, corrections, a charge withdrawn), and the newest export is the truth.

Pure: takes what Dynamics holds for the month and currency and what the export says now, and
returns what to write and which summaries the customer was invoiced on at other figures.
- A key the export still has is upserted with its new figures (the alternate key makes a re-run
  replace, never add).
- A key the export no longer has is written as zero, not deleted: the customer may have been
  invoiced on it, and the zero is what the true-up credits.
- A summary invoiced on Microsoft's billed figures that now differ is reopened for billing; the
  next bill run trues it up (billing.usage_rating.needs_true_up). An estimate invoiced before the
  billed figures arrived is already trued up by that rule without reopening.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal

from billing.models import UsageSource, UsageSummary
from billing.money import round_places
from billing.usage_rating import needs_true_up
from recon.store import MONEY_DECIMALS

ZERO = Decimal(0)


def zeroed(summary: UsageSummary, source: UsageSource) -> UsageSummary:
    return replace(summary, quantity=ZERO, cost=ZERO, cost_before_pec=ZERO, pec_amount=ZERO, pricing_total=ZERO,
                   row_count=0, source=source)


def replace_month(previous: Sequence[UsageSummary], current: Sequence[UsageSummary], *, period: str, currency: str,
                  source: UsageSource, whole_month: bool = True) -> tuple[list[UsageSummary], list[UsageSummary]]:
    """(summaries to write, summaries to reopen for a true-up) for one month and billing currency.

    An unbilled export replaces only estimates: a key Microsoft has billed is not the estimate's to
    drop. `whole_month=False` (a file a person exported and imported, which may be filtered to some
    customers) revises the keys it has and zeroes nothing."""
    now = {s.summary_key for s in current}
    stale = [zeroed(p, source) for p in previous
             if whole_month and p.summary_key not in now and p.period == period
             and p.currency.upper() == currency.upper()
             and (source is UsageSource.BILLED or p.source is UsageSource.UNBILLED) and (p.cost or p.quantity)]
    known = {p.summary_key: p for p in previous}
    reopen = []
    for s in [*current, *stale]:
        before = known.get(s.summary_key)
        if before is None or not before.billed or before.billed_source is not UsageSource.BILLED:
            continue
        # Compared as Dynamics stores it: the billed cost was read back at 4 places.
        merged = replace(s, cost=round_places(s.cost, MONEY_DECIMALS), id=before.id, billed=True,
                         invoice_id=before.invoice_id, billed_cost=before.billed_cost, billed_source=before.billed_source)
        if needs_true_up(merged):
            reopen.append(merged)
    return [*current, *stale], reopen
