"""Property: whatever the timer does (daily, weekly, down for months), every day of service is
billed exactly once and a credit never exceeds what was charged.

A contract is billed by a sequence of runs (billing.run_service.execute_run against the in-memory
repository). Change logs appear in the store some days after they take effect (a late entry, or a
provider sync that finds it later); a run only sees what exists on its date. After the last run
every day of 2026 is checked: the seats billed for it (full license lines, plus the prorated
charge/credit lines covering it) equal the seats in effect that day when refunds are on; with
refunds off, a reduction is never credited, so billed >= used and no credit line exists.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import ChangeLog, ChangeType, Frequency, LineType, Policy, RefundPolicy, UsageSummary
from billing.run_service import execute_run
from billing.runs import BillingData
from billing.timeline import Timeline
from billing.usage_rating import period_end
from tests.plugins.billing import MemoryBillingRepository, make_contract, make_sub

START = date(2026, 1, 1)
YEAR_END = date(2026, 12, 31)
SETTLE = date(2027, 4, 2)  # a run long after the year, with everything visible

SLOW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def schedules(draw):
    kind = draw(st.sampled_from(["daily", "weekly", "gaps"]))
    step = {"daily": [1], "weekly": [7], "gaps": [1, 3, 7, 30, 45, 75, 120]}[kind]
    runs, day = [], START + timedelta(days=draw(st.integers(0, 10)))
    while day <= YEAR_END:
        runs.append(day)
        day += timedelta(days=draw(st.sampled_from(step)))
    return runs


@st.composite
def change_logs(draw):
    """(log, day it appears in the store). Seats stay >= 1 until an optional final cancel."""
    logs, current = [], draw(st.integers(1, 20))
    logs.append((ChangeLog("NEW", "s-1", ChangeType.NEW, START, 0, current), START))
    for i in range(draw(st.integers(0, 5))):
        eff = START + timedelta(days=draw(st.integers(1, 360)))
        new = draw(st.integers(1, 30).filter(lambda n, c=current: n != c))
        kind = ChangeType.INCREASE if new > current else ChangeType.DECREASE
        lag = draw(st.sampled_from([0, 0, 2, 10, 40]))
        logs.append((ChangeLog(f"L{i}", "s-1", kind, eff, current, new), eff + timedelta(days=lag)))
        current = new
    if draw(st.booleans()):
        eff = START + timedelta(days=draw(st.integers(200, 364)))
        logs.append((ChangeLog("CXL", "s-1", ChangeType.CANCEL, eff, current, 0), eff))
    # Keep the history consistent: one change a day, in date order, seat counts chained.
    ordered = sorted(logs, key=lambda pair: (pair[0].effective_date, pair[0].change_key != "NEW"))
    fixed, qty, used_days = [], 0, set()
    for log, seen in ordered:
        if log.effective_date in used_days:
            continue
        used_days.add(log.effective_date)
        new = 0 if log.change_type is ChangeType.CANCEL else log.new_quantity
        if log.change_type is ChangeType.CANCEL and qty == 0:
            continue
        if log.change_type not in (ChangeType.NEW, ChangeType.CANCEL):
            if new == qty:
                continue
            kind = ChangeType.INCREASE if new > qty else ChangeType.DECREASE
            log = replace(log, change_type=kind)
        fixed.append((replace(log, id=log.change_key, old_quantity=qty,
                              new_quantity=new if log.change_type is not ChangeType.CANCEL else qty), seen))
        qty = new
        if log.change_type is ChangeType.CANCEL:
            break
    return fixed


def _simulate(contract, logs, runs, usage=()):  # type: ignore[no-untyped-def]
    sub = make_sub(quantity=1, unit_price=D("30.00"), start_date=START)
    repo = MemoryBillingRepository(BillingData([contract], [sub], [], list(usage)))
    errors = []
    for day in [*runs, SETTLE]:
        have = {c.change_key: c for c in repo.data.change_logs}
        visible = [have.get(log.change_key, log) for log, seen in logs if seen <= day]
        repo.data = replace(repo.data, change_logs=visible)
        errors += execute_run(repo, day).errors
    return repo, errors


def _seats_billed(repo) -> tuple[dict[date, D], list]:  # type: ignore[no-untyped-def]
    billed: dict[date, D] = defaultdict(D)
    lines = [line for _, line in repo.lines.values()]
    for line in lines:
        if line.line_type not in (LineType.LICENSE, LineType.PRORATION, LineType.CREDIT):
            continue
        day = line.period_start
        while day <= line.period_end:
            billed[day] += line.quantity
            day += timedelta(days=1)
    return billed, lines


contracts = st.builds(
    lambda freq, policy, refund: make_contract(frequency=freq, policy=policy, refund_policy=refund),
    st.sampled_from([Frequency.MONTHLY, Frequency.QUARTERLY]), st.sampled_from(list(Policy)),
    st.sampled_from([RefundPolicy.YES, RefundPolicy.NO]))


@SLOW
@given(contracts, change_logs(), schedules())
def test_every_service_day_billed_exactly_once_and_credits_never_exceed_charges(contract, logs, runs):
    repo, errors = _simulate(contract, logs, runs)
    assert errors == []
    billed, lines = _seats_billed(repo)
    timeline = Timeline(make_sub(quantity=1), [log for log, _ in logs])
    refunds = contract.refund_policy is RefundPolicy.YES or contract.policy is Policy.ARREARS
    story = [(log.change_key, log.change_type.name, str(log.effective_date), log.old_quantity, log.new_quantity,
              str(seen)) for log, seen in logs]
    day = START
    while day <= YEAR_END:
        used = timeline.quantity(day)
        if refunds:
            assert billed[day] == used, f"{day} billed {billed[day]} used {used}: {story} runs {runs[:3]}.. {len(runs)}"
        else:
            assert billed[day] >= used, (day, billed[day], used)
        assert billed[day] >= 0
        day += timedelta(days=1)
    charges = sum((ln.base_amount for ln in lines if ln.base_amount > 0), D(0))
    credits = -sum((ln.base_amount for ln in lines if ln.base_amount < 0), D(0))
    assert credits <= charges
    if not refunds:
        assert not [ln for ln in lines if ln.line_type is LineType.CREDIT]
    # Each cycle was invoiced at most once (the repository keys invoices by contract|cycle|kind).
    assert len(repo.invoices) == len(set(repo.invoices))


@SLOW
@given(schedules(), st.lists(st.integers(1, 11), min_size=1, max_size=6, unique=True))
def test_every_usage_month_billed_exactly_once_whatever_the_schedule(runs, months):
    contract = make_contract(policy=Policy.ARREARS)
    az = make_sub(provider_subscription_id="AZ-1", id="s-az", quantity=1, unit_price=D(0),
                  kind=__import__("billing.models", fromlist=["SubscriptionKind"]).SubscriptionKind.AZURE_PLAN)
    usage = [UsageSummary(f"AZ-1|2026-{m:02d}|Compute", "AZ-1", f"2026-{m:02d}", "USD", D("100.00"), id=f"u{m}")
             for m in months]
    repo = MemoryBillingRepository(BillingData([contract], [az], [], []))
    for day in [*runs, SETTLE]:
        # Usage of a month appears around the 10th of the next (Microsoft's billed file).
        arrived = [u for u in usage if period_end(u.period) + timedelta(days=10) <= day]
        have = {u.summary_key: u for u in repo.data.usage}
        repo.data = replace(repo.data, usage=[have.get(u.summary_key, u) for u in arrived])
        assert execute_run(repo, day).errors == []
    billed = [k for _, line in repo.lines.values() for k in line.usage_summary_keys]
    assert sorted(billed) == sorted(u.summary_key for u in usage)


def test_a_change_entered_after_a_later_change_was_billed_is_not_counted_twice():
    # Found by the property above: the March 6 reduction is entered in mid-April, after the April
    # quarter was billed with the seat count of the March 20 change (which already reflects it).
    contract = make_contract(frequency=Frequency.QUARTERLY, refund_policy=RefundPolicy.YES)

    def ch(key, kind, eff, old, new, seen):  # type: ignore[no-untyped-def]
        return ChangeLog(key, "s-1", kind, eff, old, new, id=key), seen
    logs = [ch("NEW", ChangeType.NEW, START, 0, 9, START),
            ch("L1", ChangeType.INCREASE, date(2026, 2, 10), 9, 27, date(2026, 2, 10)),
            ch("L4", ChangeType.DECREASE, date(2026, 3, 6), 27, 2, date(2026, 4, 15)),
            ch("L2", ChangeType.INCREASE, date(2026, 3, 20), 2, 14, date(2026, 3, 20)),
            ch("L3", ChangeType.DECREASE, date(2026, 4, 2), 14, 3, date(2026, 4, 2))]
    runs = [START + timedelta(days=7 * i) for i in range(52)]
    repo, errors = _simulate(contract, logs, runs)
    billed, _ = _seats_billed(repo)
    timeline = Timeline(make_sub(quantity=1), [log for log, _ in logs])
    assert errors == []
    assert all(billed[START + timedelta(days=n)] == timeline.quantity(START + timedelta(days=n)) for n in range(365))


def test_a_late_change_in_arrears_stops_at_a_billed_change_on_the_next_cycle_start():
    # Found by the property above: in arrears the July line is billed with the seat count of the
    # July 1 change; the June 23 reduction, entered in August, is credited for June only.
    contract = make_contract(frequency=Frequency.MONTHLY, policy=Policy.ARREARS, refund_policy=RefundPolicy.YES)

    def ch(key, kind, eff, old, new, seen):  # type: ignore[no-untyped-def]
        return ChangeLog(key, "s-1", kind, eff, old, new, id=key), seen
    logs = [ch("NEW", ChangeType.NEW, START, 0, 3, START),
            ch("L1", ChangeType.DECREASE, date(2026, 6, 23), 3, 2, date(2026, 8, 2)),
            ch("L0", ChangeType.DECREASE, date(2026, 7, 1), 2, 1, date(2026, 7, 1))]
    runs = [START + timedelta(days=i) for i in range(365)]
    repo, errors = _simulate(contract, logs, runs)
    assert errors == []
    billed, _ = _seats_billed(repo)
    timeline = Timeline(make_sub(quantity=1), [log for log, _ in logs])
    day = START
    while day <= YEAR_END:
        assert billed[day] == timeline.quantity(day), day
        day += timedelta(days=1)


def test_a_late_increase_before_a_cancel_on_a_cycle_start_stops_at_the_cancel():
    """Found by the property above: a cancel effective on an advance cycle's first day leaves that cycle
    with nothing to invoice (the cancel is settled, archived); an earlier increase entered after it was
    billed through the cancelled cycle too."""
    contract = make_contract(frequency=Frequency.MONTHLY, policy=Policy.ADVANCE, refund_policy=RefundPolicy.YES)
    new = ChangeLog("NEW", "s-1", ChangeType.NEW, START, 0, 1)
    more = ChangeLog("L0", "s-1", ChangeType.INCREASE, date(2026, 1, 2), 1, 2)
    late = ChangeLog("L1", "s-1", ChangeType.INCREASE, date(2026, 9, 24), 2, 3)
    cancel = ChangeLog("CXL", "s-1", ChangeType.CANCEL, date(2026, 11, 1), 3, 3)
    logs = [(replace(log, id=log.change_key), seen) for log, seen in (
        (new, START), (more, more.effective_date), (late, date(2026, 11, 3)), (cancel, cancel.effective_date))]
    repo, errors = _simulate(contract, logs, [START + timedelta(days=i) for i in range(365)])
    assert errors == []
    billed, _ = _seats_billed(repo)
    assert billed[date(2026, 10, 31)] == 3
    assert billed[date(2026, 11, 1)] == 0
