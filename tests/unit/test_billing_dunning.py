"""Dunning rules: each step at most once, only the latest due reminder after a gap, never backwards,
the final notice supersedes reminders, and nothing for a paid or not-yet-due invoice."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.dunning import DunningKind, DunningPolicy, due_steps, parse_days, policy_from

DUE = date(2026, 3, 31)
OPEN = Decimal("100.00")


def _kinds(steps):
    return [(s.kind, s.step) for s in steps]


def test_nothing_before_the_due_date_or_when_paid_or_off():
    policy = DunningPolicy()
    assert due_steps(policy, due_date=DUE, today=DUE, balance=OPEN, done=set(), can_retry=True) == []
    assert due_steps(policy, due_date=DUE, today=DUE + timedelta(40), balance=Decimal("0"), done=set(),
                     can_retry=True) == []
    assert due_steps(DunningPolicy(off=True), due_date=DUE, today=DUE + timedelta(40), balance=OPEN, done=set(),
                     can_retry=True) == []


def test_the_schedule_day_by_day():
    policy = DunningPolicy(reminder_days=(7, 14), retry_days=(3, 7), final_day=30, suspend_day=45)
    done: set[tuple[int, int]] = set()
    seen = {}
    for day in range(0, 60):
        steps = due_steps(policy, due_date=DUE, today=DUE + timedelta(day), balance=OPEN, done=done, can_retry=True)
        for s in steps:
            done.add((int(s.kind), s.step))
            seen[(s.kind, s.step)] = day
    assert seen == {(DunningKind.RETRY, 1): 3, (DunningKind.RETRY, 2): 7, (DunningKind.REMINDER, 1): 7,
                    (DunningKind.REMINDER, 2): 14, (DunningKind.FINAL, 1): 30, (DunningKind.FLAG, 1): 45}


def test_after_a_gap_only_the_latest_reminder_goes_out_and_earlier_ones_never_follow():
    policy = DunningPolicy(reminder_days=(7, 14, 21), retry_days=(), final_day=30)
    first = due_steps(policy, due_date=DUE, today=DUE + timedelta(22), balance=OPEN, done=set(), can_retry=False)
    assert _kinds(first) == [(DunningKind.REMINDER, 3)]
    done = {(int(DunningKind.REMINDER), 3)}
    assert due_steps(policy, due_date=DUE, today=DUE + timedelta(23), balance=OPEN, done=done, can_retry=False) == []


def test_a_long_outage_sends_the_final_notice_not_reminders():
    policy = DunningPolicy(reminder_days=(7, 14), retry_days=(), final_day=30)
    steps = due_steps(policy, due_date=DUE, today=DUE + timedelta(90), balance=OPEN, done=set(), can_retry=False)
    assert _kinds(steps) == [(DunningKind.FINAL, 1)]


def test_retries_need_a_method_on_file_and_suspension_is_only_a_flag():
    policy = DunningPolicy(suspend_day=10, final_day=None, reminder_days=(5,), retry_days=(2,))
    steps = due_steps(policy, due_date=DUE, today=DUE + timedelta(12), balance=OPEN, done=set(), can_retry=False)
    assert _kinds(steps) == [(DunningKind.REMINDER, 1), (DunningKind.FLAG, 1)]


def test_policy_text_is_parsed_and_bad_text_named():
    assert parse_days(" 14, 7 ,7", "reminder days") == (7, 14)
    assert parse_days("", "x") is None and parse_days(None, "x") is None
    with pytest.raises(ValueError, match="reminder days: 'soon' is not a positive number of days"):
        parse_days("7, soon", "reminder days")
    with pytest.raises(ValueError, match="final notice day"):
        policy_from(final_day=0)
    assert policy_from("3", None, None, 60).reminder_days == (3,)


@given(
    reminders=st.lists(st.integers(1, 40), max_size=4),
    retries=st.lists(st.integers(1, 40), max_size=4),
    final=st.one_of(st.none(), st.integers(1, 60)),
    suspend=st.one_of(st.none(), st.integers(1, 90)),
    gaps=st.lists(st.integers(1, 30), min_size=1, max_size=20),
)
def test_any_run_schedule_does_each_step_at_most_once_and_never_goes_backwards(reminders, retries, final, suspend,
                                                                                gaps):
    policy = DunningPolicy(tuple(sorted(set(reminders))), tuple(sorted(set(retries))), final, suspend)
    done: set[tuple[int, int]] = set()
    taken: list[tuple[int, int, int]] = []
    day = 0
    for gap in gaps:
        day += gap
        for s in due_steps(policy, due_date=DUE, today=DUE + timedelta(day), balance=OPEN, done=done, can_retry=True):
            key = (int(s.kind), s.step)
            assert key not in done
            assert s.day <= day  # never early
            done.add(key)
            taken.append((int(s.kind), s.step, day))
    for kind in (DunningKind.REMINDER, DunningKind.RETRY):
        steps = [step for k, step, _ in taken if k == kind]
        assert steps == sorted(steps)  # later steps only
    finals = [d for k, _, d in taken if k == DunningKind.FINAL]
    assert len(finals) <= 1
    if finals:
        assert not [d for k, _, d in taken if k == DunningKind.REMINDER and d > finals[0]]
    if suspend is None:
        assert not [t for t in taken if t[0] == DunningKind.FLAG]
