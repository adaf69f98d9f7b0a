"""Proration: what share of a cycle's price a part of the cycle is worth.

Days: the exact number of days covered over the exact number of days in that cycle (a 28-day
February and a 31-day March each sum to 1). Months (Work 365 "Prorate Unit = Months"): the months
left to the cycle boundary, a started month counting as a whole one, over the months per cycle.
A share is never above 1 per cycle, so a proration never exceeds the full-period price. A span
that crosses cycle boundaries (a change billed late) is the sum of its per-cycle shares.
Only recurring license lines are prorated; one-time and usage lines never are.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from billing.cycles import Cycle, add_months, cycle_containing
from billing.models import BillingContract, ProrateUnit

ONE = Decimal(1)
ZERO = Decimal(0)


def _months_touched(first: date, last: date) -> int:
    """Months from `first` until past `last`, counting a started month as whole."""
    months = 0
    while add_months(first, months) <= last:
        months += 1
    return months


def cycle_share(contract: BillingContract, cycle: Cycle, first: date, last: date) -> Decimal:
    """Share of `cycle`'s full price for the days first..last (inclusive), both inside the cycle."""
    first, last = max(first, cycle.start), min(last, cycle.end)
    if last < first:
        return ZERO
    full_end = cycle.full_end or cycle.end
    if contract.prorate_unit is ProrateUnit.MONTHS:
        share = Decimal(_months_touched(first, last)) / Decimal(int(contract.frequency))
    else:
        share = Decimal((last - first).days + 1) / Decimal((full_end - cycle.start).days + 1)
    return min(share, ONE)


def span_share(contract: BillingContract, first: date, end_exclusive: date) -> Decimal:
    """Sum of per-cycle shares for first..end_exclusive-1 (0 when empty or before the contract)."""
    first = max(first, contract.start_date)
    if contract.end_date is not None:
        end_exclusive = min(end_exclusive, contract.end_date + timedelta(days=1))
    total = ZERO
    day = first
    while day < end_exclusive:
        cycle = cycle_containing(contract, day)
        if cycle is None:
            break
        last = min(cycle.end, end_exclusive - timedelta(days=1))
        total += cycle_share(contract, cycle, day, last)
        day = cycle.end + timedelta(days=1)
    return total
