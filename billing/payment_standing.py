"""Where an invoice stood right after one of its payments: paid to date and the balance then.

A receipt is a record of that moment, so it counts only the payments that arrived before it and this
one: the receipt of the first of two partial payments shows the balance after the first payment,
however long after the second one it is downloaded, and the same bytes every time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Protocol


class SettledPayment(Protocol):
    """A payment attempt as the payments area records it (dataverse.stores.payments.Payment)."""

    @property
    def key(self) -> str: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def succeeded(self) -> bool: ...
    @property
    def paid_on(self) -> date | None: ...
    @property
    def modified_on(self) -> date | None: ...
    @property
    def modified_at(self) -> datetime | None: ...
    @property
    def version(self) -> int | None: ...


@dataclass(frozen=True)
class Standing:
    paid_to_date: Decimal  # this payment and every one before it
    balance: Decimal       # total - paid_to_date: what was left to pay right after this payment


_NEVER = datetime.min.replace(tzinfo=UTC)


def standing_after(total: Decimal, history: Sequence[SettledPayment], key: str) -> Standing:
    """`history`: the invoice's attempts, oldest first. Succeeded payments count in the order they were
    recorded as succeeded (a succeeded row is not written again): by the row version of that write where
    the store has one (Dataverse), else its moment, then the payment date, then creation order. An
    attempt still pending or failed never counts, and one that succeeds later is recorded later, so it
    never moves into an earlier receipt, even when both settle within the same second. Raises ValueError
    if `key` is not a succeeded payment in `history`."""
    settled = sorted(((p.version is None, p.version or 0, p.modified_at or _NEVER,
                       p.paid_on or p.modified_on or date.min, n, p)
                      for n, p in enumerate(history) if p.succeeded), key=lambda item: item[:5])
    # Recorded amounts are already in the currency's minor units: exact sums, nothing to round.
    paid = total - total  # keeps the amount's minor-unit exponent (0.00, not 0)
    for *_order, payment in settled:
        paid += payment.amount
        if payment.key == key:
            return Standing(paid, total - paid)
    raise ValueError(f"{key!r} is not a succeeded payment on this invoice")
