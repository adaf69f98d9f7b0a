"""What happens to a trial subscription at the end of its trial. Pure.

The rep decides in Dynamics ("convert to paid" on the subscription). At the trial's end:
- converted to paid when the rep chose so: a Term Change through Partner Center's transitions
  (newcommerce_lifecycle_facts A8: trials convert the same way as upgrades), and billing starts
  on the conversion, from the new paid subscription's start; the trial itself is never billed;
- otherwise it expires: auto-renew off at the provider, so it does not roll into a paid term.
Before the end nothing happens.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum


class TrialEnd(StrEnum):
    WAIT = "wait"
    CONVERT = "convert"
    EXPIRE = "expire"


def at_trial_end(*, trial_end: datetime | date | None, convert_to_paid: bool | None, now: datetime) -> TrialEnd:
    if trial_end is None:
        return TrialEnd.WAIT
    end = trial_end.date() if isinstance(trial_end, datetime) else trial_end
    if now.date() < end:
        return TrialEnd.WAIT
    return TrialEnd.CONVERT if convert_to_paid else TrialEnd.EXPIRE
