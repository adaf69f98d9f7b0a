"""When a license change log with an effective date is sent to the provider, and how. Pure.

- A change dated today or earlier is sent now (the usual rules in provisioning_rules apply).
- A change dated in the future waits, Awaiting, until the scheduled-changes timer finds it due on
  that date (jobs/scheduled_changes.py); nothing is sent before.
- A seat change, or a term change (upgrade, term or billing-cycle conversion), dated at or after
  the end of a new-commerce term is a change *at renewal*: it goes
  to Partner Center now, as the subscription's scheduledNextTermInstructions, which Microsoft
  applies when the term renews. That needs auto-renew on (newcommerce_lifecycle_facts A6); a
  subscription with auto-renew off is refused with the reason. A mid-term change on the same
  subscription clears what was scheduled (Partner Center deletes it; the sync reads it back).
- A cancellation dated at or after the end of the term is "cancel at term end": auto-renew is
  turned off now, and the subscription expires when its term ends (no refund window is needed).
Billing reads each change log's effective date, so a scheduled change is billed from
its date, never from the day it was entered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from billing.models import ChangeType


class When(StrEnum):
    NOW = "now"                      # send it now, through the usual rules
    WAIT = "wait"                    # not due: the timer sends it on its effective date
    NEXT_TERM = "next_term"          # send now as the subscription's instructions for its next term
    AUTO_RENEW_OFF = "auto_renew_off"  # cancel at term end: turn auto-renew off now
    REFUSE = "refuse"


@dataclass(frozen=True)
class Schedule:
    when: When
    reason: str = ""
    effective: date | None = None


def _day(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value


def schedule_for(*, change_type: int, effective: datetime | date | None, now: datetime,
                 commitment_end: datetime | date | None, auto_renew: bool | None,
                 next_term_supported: bool, auto_renew_supported: bool) -> Schedule:
    """How and when to send one change. `commitment_end` is the last day of the current term;
    `next_term_supported` is whether the provider takes changes for the next term (Partner
    Center's scheduledNextTermInstructions); `auto_renew_supported` whether it can turn auto-renew off."""
    day, today, term_end = _day(effective), now.date(), _day(commitment_end)
    at_renewal = day is not None and term_end is not None and day >= term_end
    if change_type == ChangeType.CANCEL and at_renewal:
        if not auto_renew_supported:
            return Schedule(When.REFUSE, "this provider cannot turn auto-renew off, so a cancellation at term end "
                                         "cannot be sent; cancel it in the provider's portal", day)
        return Schedule(When.AUTO_RENEW_OFF, f"cancel at term end: auto-renew off, the subscription expires on "
                                             f"{term_end.isoformat() if term_end else '?'}", day)
    if change_type in (ChangeType.INCREASE, ChangeType.DECREASE, ChangeType.TERM_CHANGE) and at_renewal \
            and next_term_supported:
        if day is not None and day > today and auto_renew is False:
            return Schedule(When.REFUSE, "a change at renewal needs auto-renew on (Partner Center's "
                                         "scheduledNextTermInstructions); turn auto-renew on first, or date the "
                                         "change inside the current term", day)
        if day is not None and day > today:
            return Schedule(When.NEXT_TERM, f"scheduled for the renewal on {day.isoformat()}", day)
    if day is not None and day > today:
        return Schedule(When.WAIT, f"scheduled for {day.isoformat()}: sent on that date", day)
    return Schedule(When.NOW, effective=day)
