"""New-commerce (NCE) license rules, pure: no I/O, no clock reads (callers pass `now`).

Microsoft lets a partner reduce seats or cancel an NCE license only within 168 hours (7 days)
of the purchase or of each renewal; after that the customer is committed for the term.
Increases are always allowed, and each seat addition has its own 168-hour window: seats added
in the last 168 hours may be removed even after the subscription's first window closed
(newcommerce_lifecycle_facts §0.3/§0.4: Partner Center's `refundableQuantity`). Quantity must stay above zero: a cancel is a status change,
not "quantity 0".
(learn.microsoft.com/partner-center/customers/cancel-new-commerce-license-subscriptions)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from billing.models import TERM_MONTHS as TERM_MONTHS  # re-exported: callers read newcommerce.TERM_MONTHS

REDUCTION_WINDOW = timedelta(hours=168)

# Microsoft's billingCycle names <-> the ISO durations a subscription's billing frequency holds.
BILLING_CYCLE_TO_FREQUENCY: dict[str, str] = {
    "monthly": "P1M", "annual": "P1Y", "triennial": "P3Y", "none": "P1M", "onetime": "OneTime",
}
FREQUENCY_TO_BILLING_CYCLE: dict[str, str] = {"P1M": "monthly", "P1Y": "annual", "P3Y": "triennial"}


class Verdict(StrEnum):
    ALLOWED = "allowed"
    REFUSED = "refused"


@dataclass(frozen=True)
class RuleDecision:
    verdict: Verdict
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOWED


ALLOW = RuleDecision(Verdict.ALLOWED)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def term_months(term: str) -> int:
    try:
        return TERM_MONTHS[term]
    except KeyError:
        raise ValueError(f"unknown term {term!r}; expected one of {sorted(TERM_MONTHS)}") from None


def current_term_start(start: datetime, term: str, now: datetime,
                       commitment_end: datetime | None = None) -> datetime:
    """When the running term began: the purchase, or the latest renewal before `now`.

    The commitment end date is authoritative when the provider gives one (renewals can be
    co-termed, so counting whole terms from the start date is only a fallback).
    """
    start, now = _aware(start), _aware(now)
    months = term_months(term)
    if commitment_end is not None:
        renewed: datetime = _aware(commitment_end) - relativedelta(months=months)
        if renewed <= now:
            return max(renewed, start)
    began = start
    while began + relativedelta(months=months) <= now:
        began = began + relativedelta(months=months)
    return began


def reduction_window_closes(start: datetime, term: str, now: datetime,
                            commitment_end: datetime | None = None) -> datetime:
    return current_term_start(start, term, now, commitment_end) + REDUCTION_WINDOW


def in_reduction_window(start: datetime, term: str, now: datetime,
                        commitment_end: datetime | None = None) -> bool:
    return _aware(now) < reduction_window_closes(start, term, now, commitment_end)


SeatAddition = tuple[datetime, int]  # (when the seats were added, how many)


def refundable_quantity(additions: Iterable[SeatAddition], now: datetime) -> int:
    """Seats that may still be removed now: each addition within its own 168 hours."""
    now = _aware(now)
    return sum(qty for when, qty in additions if qty > 0 and _aware(when) <= now < _aware(when) + REDUCTION_WINDOW)


def seat_additions(changes: Iterable[tuple[datetime, int, int]]) -> list[SeatAddition]:
    """(effective, old seats, new seats) of a subscription's changes -> its seat additions: a
    purchase or renewal adds every seat (a new window for all of them), an increase the extra ones."""
    out = []
    for when, old, new in changes:
        if new > old:
            out.append((when, new - old))
    return out


def check_quantity_change(*, old_quantity: int, new_quantity: int, start: datetime, term: str,
                          now: datetime, commitment_end: datetime | None = None,
                          additions: Iterable[SeatAddition] = ()) -> RuleDecision:
    if new_quantity <= 0:
        return RuleDecision(Verdict.REFUSED,
                            f"quantity must be greater than 0 (got {new_quantity}); cancel the subscription instead")
    if new_quantity >= old_quantity:
        return ALLOW
    closes = reduction_window_closes(start, term, now, commitment_end)
    if _aware(now) < closes:
        return ALLOW
    refundable = refundable_quantity(additions, now)
    if old_quantity - new_quantity <= refundable:
        return ALLOW
    if refundable:
        return RuleDecision(
            Verdict.REFUSED,
            f"seat reduction from {old_quantity} to {new_quantity} refused: only {refundable} seat(s) were added "
            f"within the last 7 days and may be removed now (each addition has its own 7-day window); reduce to "
            f"{old_quantity - refundable} at most, or schedule the rest for the renewal")
    return RuleDecision(
        Verdict.REFUSED,
        f"seat reduction from {old_quantity} to {new_quantity} refused: new-commerce licenses can only be "
        f"reduced within 7 days of purchase or renewal (window closed {closes:%Y-%m-%d %H:%M} UTC); "
        f"schedule the reduction for the renewal instead",
    )


def check_cancellation(*, start: datetime, term: str, now: datetime,
                       commitment_end: datetime | None = None) -> RuleDecision:
    closes = reduction_window_closes(start, term, now, commitment_end)
    if _aware(now) < closes:
        return ALLOW
    return RuleDecision(
        Verdict.REFUSED,
        f"cancellation refused: new-commerce licenses can only be cancelled within 7 days of purchase or "
        f"renewal (window closed {closes:%Y-%m-%d %H:%M} UTC); turn off auto-renew to end it at term end",
    )


def check_new_order(*, quantity: int, mca_attested: bool) -> RuleDecision:
    if quantity <= 0:
        return RuleDecision(Verdict.REFUSED, f"quantity must be greater than 0 (got {quantity})")
    if not mca_attested:
        return RuleDecision(
            Verdict.REFUSED,
            "new-commerce order refused: the customer has not accepted the Microsoft Customer Agreement; "
            "record the acceptance (the customer's agreement in Dynamics) or ask the customer to accept it in the portal",
        )
    return ALLOW
