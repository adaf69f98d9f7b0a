"""Billing cycles of a contract and the date each cycle is invoiced.

Cycles are counted from the contract start date in steps of the contract frequency. Every cycle
start is computed from the anchor (start + i*months), never from the previous cycle, so a
contract that starts on the 31st bills Jan 31, Feb 28, Mar 31, ... instead of drifting to the 28th.
A contract end date cuts the last cycle short (Work 365 "prorated final term").

Invoice date = cycle boundary + offset days, where the boundary is the cycle start for advance
billing and the last day of the cycle for arrears. The offset defaults to 1 day (Work 365's
default: day after cycle start for advance, day after cycle end for arrears); it may be negative
to bill ahead.
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

from billing.models import BillingContract, Policy

DEFAULT_OFFSET_DAYS = 1


@dataclass(frozen=True, order=True)
class Cycle:
    start: date
    end: date  # inclusive last day
    index: int = 0
    full_end: date | None = None  # last day of the uncut cycle when an end date cut it short

    @property
    def next_start(self) -> date:
        return self.end + timedelta(days=1)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end


def add_months(anchor: date, months: int) -> date:
    """Same month arithmetic as dateutil's relativedelta (day clamped to the month's last day),
    without its cost: planning calls this hundreds of thousands of times."""
    total = anchor.month - 1 + months
    year, month = anchor.year + total // 12, total % 12 + 1
    return date(year, month, min(anchor.day, monthrange(year, month)[1]))


@lru_cache(maxsize=65536)
def _cycle(start_date: date, months: int, end_date: date | None, index: int) -> Cycle | None:
    start = add_months(start_date, index * months)
    if end_date is not None and start > end_date:
        return None
    full_end = add_months(start_date, (index + 1) * months) - timedelta(days=1)
    end = full_end if end_date is None else min(full_end, end_date)
    return Cycle(start, end, index, full_end)


def cycle_at(contract: BillingContract, index: int) -> Cycle | None:
    """The index-th cycle (0 = the first), or None when it starts after the contract end date."""
    return _cycle(contract.start_date, int(contract.frequency), contract.end_date, index)


def cycles(contract: BillingContract, until: date | None = None) -> Iterator[Cycle]:
    """Cycles from the first, stopping at the contract end or at the first that starts after `until`."""
    index = 0
    while True:
        cycle = cycle_at(contract, index)
        if cycle is None or (until is not None and cycle.start > until):
            return
        yield cycle
        index += 1


def cycle_containing(contract: BillingContract, day: date) -> Cycle | None:
    if day < contract.start_date:
        return None
    months = int(contract.frequency)
    # Jump close to the answer instead of walking from the start of a long-running contract.
    elapsed = (day.year - contract.start_date.year) * 12 + day.month - contract.start_date.month
    index = max(0, elapsed // months - 1)
    while True:
        cycle = cycle_at(contract, index)
        if cycle is None or cycle.start > day:
            return None
        if day <= cycle.end:
            return cycle
        index += 1


def offset_days(contract: BillingContract) -> int:
    return DEFAULT_OFFSET_DAYS if contract.billing_offset_days is None else contract.billing_offset_days


def invoice_date(contract: BillingContract, cycle: Cycle) -> date:
    boundary = cycle.start if contract.policy is Policy.ADVANCE else cycle.end
    return boundary + timedelta(days=offset_days(contract))


def due_cycles(contract: BillingContract, run_date: date, catch_up_days: int | None = None) -> list[Cycle]:
    """Every cycle whose invoice date is on or before `run_date`, from the contract's next invoice
    date on (the first cycle not invoiced yet; the contract start when it has none), however long
    ago that was: a timer that was down for months bills all of them.

    `catch_up_days`, when given, narrows the result to cycles invoiced within that many days of the
    run date. Only callers that decide what onboarding skips use it; a run never skips a cycle
    silently (billing/runs.py turns cycles beyond its limit into an error).
    """
    # An invoice date can sit up to |offset| days after the cycle start (advance) or a whole cycle
    # plus offset after it (arrears); look that far ahead of run_date for candidate starts.
    horizon = run_date + timedelta(days=abs(offset_days(contract)) + 1)
    first = contract.next_invoice_date
    found = []
    index = 0
    if first is not None:
        begun = cycle_containing(contract, first - timedelta(days=max(0, offset_days(contract)) + int(contract.frequency) * 31))
        index = begun.index if begun is not None else 0
    while True:
        cycle = cycle_at(contract, index)
        index += 1
        if cycle is None or cycle.start > horizon:
            break
        when = invoice_date(contract, cycle)
        if when > run_date or (first is not None and when < first):
            continue
        if catch_up_days is not None and when <= run_date - timedelta(days=catch_up_days):
            continue
        found.append(cycle)
    return found


def overdue_cycles(contract: BillingContract, due: list[Cycle], run_date: date, limit_days: int) -> list[Cycle]:
    """The due cycles invoiced more than `limit_days` before the run date (a run's explicit limit)."""
    return [c for c in due if invoice_date(contract, c) <= run_date - timedelta(days=limit_days)]


def next_cycle_to_invoice(contract: BillingContract, on_or_after: date) -> Cycle | None:
    """The first cycle whose invoice date is on or after the given day (for previews)."""
    for cycle in cycles(contract):
        if invoice_date(contract, cycle) >= on_or_after:
            return cycle
    return None
