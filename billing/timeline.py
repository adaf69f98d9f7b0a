"""Seat count and unit price of a subscription on a given day, rebuilt from its change logs.

The subscription row only holds today's values; the change logs are the pricing history (Work
365: LCLs are the pricing source for invoices). Archived logs still shape the timeline (a
cancellation archived with "do not refund" does end the subscription); they only never produce
a line of their own.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from billing.models import ChangeLog, ChangeType, Subscription


def quantity_after(change: ChangeLog) -> int:
    # A cancellation is a status change at the provider, but no seat is billed after it.
    return 0 if change.change_type is ChangeType.CANCEL else change.new_quantity


def quantity_before(change: ChangeLog) -> int:
    return 0 if change.change_type is ChangeType.NEW else change.old_quantity


class Timeline:
    def __init__(self, sub: Subscription, changes: Iterable[ChangeLog]) -> None:
        self.sub = sub
        self.changes = sorted(changes, key=lambda c: (c.effective_date, c.change_key))
        self._days = [c.effective_date for c in self.changes]

    def term_over(self, day: date) -> bool:
        end = self.sub.commitment_end_date
        return not self.sub.auto_renew and end is not None and day > end

    def quantity(self, day: date) -> int:
        if self.term_over(day):
            return 0
        i = bisect_right(self._days, day)
        if i:
            return quantity_after(self.changes[i - 1])
        if self.changes:
            return quantity_before(self.changes[0])
        if self.sub.start_date is not None and day < self.sub.start_date:
            return 0
        return self.sub.quantity

    def price(self, day: date) -> Decimal:
        i = bisect_right(self._days, day)
        for change in reversed(self.changes[:i]):
            if change.new_price is not None:
                return change.new_price
        for change in self.changes[i:]:
            if change.old_price is not None:
                return change.old_price
        return self.sub.unit_price

    def ever_zero(self) -> bool:
        return any(quantity_after(c) == 0 for c in self.changes)
