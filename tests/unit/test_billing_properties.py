"""Hypothesis properties of the billing engine."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.currency import RateTable
from billing.cycles import cycle_containing
from billing.deferred_revenue import schedule, split_evenly
from billing.license_lines import LicenseContext, change_line, full_line
from billing.models import ChangeLog, ChangeType, Frequency, LineType, Policy, ProrateUnit, RefundPolicy
from billing.money import round_money
from billing.runs import BillingData, plan_run
from billing.timeline import Timeline
from tests.plugins.billing import make_contract, make_sub

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

prices = st.decimals(min_value=D("0.01"), max_value=D("5000"), places=4)
days = st.integers(min_value=0, max_value=400).map(lambda n: date(2026, 1, 1) + timedelta(days=n))
freqs = st.sampled_from(list(Frequency))
policies = st.sampled_from(list(Policy))
units = st.sampled_from(list(ProrateUnit))
currencies = st.sampled_from(["USD", "EUR", "JPY", "KRW", "GBP"])
pcts = st.decimals(min_value=D("0"), max_value=D("30"), places=2)


@st.composite
def scenario(draw):
    contract = make_contract(frequency=draw(freqs), policy=draw(policies), prorate_unit=draw(units),
                             currency=draw(currencies), discount_pct=draw(pcts), tax_rate_pct=draw(pcts),
                             refund_policy=draw(st.sampled_from(list(RefundPolicy))))
    qty = draw(st.integers(1, 50))
    sub = make_sub(quantity=qty, unit_price=draw(prices), currency=contract.currency)
    logs, current = [], qty
    for i in range(draw(st.integers(0, 4))):
        new = draw(st.integers(1, 60))
        logs.append(ChangeLog(f"L{i}", "s-1", ChangeType.INCREASE if new > current else ChangeType.DECREASE,
                              draw(days), current, new))
        current = new
    return contract, sub, logs


@FAST
@given(scenario(), days)
def test_invoice_total_is_sum_of_rounded_lines(case, run_date):
    contract, sub, logs = case
    plan = plan_run(BillingData([contract], [sub], logs), run_date, catch_up_days=None)
    for inv in plan.invoices:
        assert inv.total == sum((ln.base_amount - ln.discount + ln.tax for ln in inv.lines), D(0))
        for ln in inv.lines:
            for part in (ln.base_amount, ln.discount, ln.tax):
                assert part == round_money(part, contract.currency)
        assert len({ln.key for ln in inv.lines}) == len(inv.lines)


@FAST
@given(freqs, policies, units, prices, st.integers(1, 100), days)
def test_proration_never_exceeds_full_period_price(freq, policy, unit, price, seats, eff):
    contract = make_contract(frequency=freq, policy=policy, prorate_unit=unit)
    cycle = cycle_containing(contract, eff)
    change = ChangeLog("L", "s-1", ChangeType.INCREASE, eff, 0, seats)
    sub = make_sub(quantity=seats, unit_price=price)
    timeline = Timeline(sub, [change])
    target = cycle if policy is Policy.ARREARS or eff == cycle.start else cycle_containing(contract, cycle.next_start)
    ctx = LicenseContext(contract, target, "K", RateTable())
    prorated = change_line(ctx, sub, timeline, change)
    full = full_line(LicenseContext(contract, cycle_containing(contract, cycle.next_start), "K", RateTable()), sub, timeline)
    if prorated is not None:
        # a tiny price over a few days may round to zero, never below it or above the full period
        assert 0 <= prorated.base_amount <= full.base_amount


@FAST
@given(freqs, policies, units, prices, st.integers(1, 40), st.integers(0, 40), days)
def test_add_then_remove_same_day_nets_to_zero_with_refunds(freq, policy, unit, price, base, added, eff):
    contract = make_contract(frequency=freq, policy=policy, prorate_unit=unit, refund_policy=RefundPolicy.YES,
                             tax_rate_pct=D("7.25"), discount_pct=D("3"))
    logs = [ChangeLog("A", "s-1", ChangeType.INCREASE, eff, base, base + added),
            ChangeLog("B", "s-1", ChangeType.DECREASE, eff, base + added, base)]
    sub = make_sub(quantity=base, unit_price=price, start_date=date(2025, 1, 1))
    plan = plan_run(BillingData([contract], [sub], logs), eff + timedelta(days=1200), catch_up_days=None)
    change_lines = [ln for inv in plan.invoices for ln in inv.lines if ln.line_type is not LineType.LICENSE]
    assert sum((ln.amount for ln in change_lines), D(0)) == 0


@FAST
@given(scenario(), days)
def test_rerun_changes_nothing(case, run_date):
    contract, sub, logs = case
    data = BillingData([contract], [sub], logs)
    first = plan_run(data, run_date, catch_up_days=None)
    assert plan_run(data, run_date, catch_up_days=None) == first
    written = [i.key for i in first.invoices]
    billed = {k: "inv" for i in first.invoices for k in i.change_log_keys}
    logs_after = [ChangeLog(**{**c.__dict__, "invoice_id": billed.get(c.change_key)}) for c in logs]
    again = plan_run(BillingData([contract], [sub], logs_after), run_date, catch_up_days=None,
                     existing_invoice_keys=written)
    assert again.invoices == []


@FAST
@given(st.decimals(min_value=D("-100000"), max_value=D("100000"), places=2), st.integers(1, 36))
def test_split_evenly_sums_exactly(amount, parts):
    pieces = split_evenly(amount, parts, "USD")
    assert sum(pieces, D(0)) == amount
    assert max(pieces) - min(pieces) <= D("0.01")


@FAST
@given(scenario())
def test_revenue_schedule_sums_to_recurring_net(case):
    contract, sub, logs = case
    contract = make_contract(**{**contract.__dict__, "frequency": Frequency.ANNUAL, "policy": Policy.ADVANCE})
    for inv in plan_run(BillingData([contract], [sub], logs), date(2027, 6, 1), catch_up_days=None).invoices:
        recurring = sum((ln.base_amount - ln.discount for ln in inv.lines
                         if ln.line_type in (LineType.LICENSE, LineType.PRORATION, LineType.CREDIT)), D(0))
        assert sum((e.amount for e in schedule(inv)), D(0)) == recurring
