"""billing/trials.py: a trial converts at its end when the rep chose so, else expires."""

from __future__ import annotations

from datetime import UTC, date, datetime

from billing.trials import TrialEnd, at_trial_end

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_nothing_happens_before_the_end():
    assert at_trial_end(trial_end=date(2026, 12, 2), convert_to_paid=True, now=NOW) is TrialEnd.WAIT
    assert at_trial_end(trial_end=None, convert_to_paid=True, now=NOW) is TrialEnd.WAIT


def test_at_the_end_the_reps_choice_decides():
    assert at_trial_end(trial_end=date(2026, 12, 1), convert_to_paid=True, now=NOW) is TrialEnd.CONVERT
    assert at_trial_end(trial_end=datetime(2026, 11, 30, tzinfo=UTC), convert_to_paid=False, now=NOW) is TrialEnd.EXPIRE
    assert at_trial_end(trial_end=date(2026, 11, 1), convert_to_paid=None, now=NOW) is TrialEnd.EXPIRE
