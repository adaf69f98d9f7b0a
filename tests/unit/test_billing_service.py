"""The run service's write order: a crash at any write followed by a re-run ends in exactly the
state of one clean run, and a further re-run changes nothing (hypothesis over scenarios and
crash points)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import (
    ChangeLog,
    ChangeType,
    Frequency,
    OneTimeItem,
    Policy,
    SubscriptionKind,
    UsageSummary,
)
from billing.run_service import execute_run
from billing.runs import BillingData
from shared.errors import RetriableError
from tests.plugins.billing import MemoryBillingRepository, make_contract, make_sub


@st.composite
def world(draw):
    contract = make_contract(frequency=draw(st.sampled_from([Frequency.MONTHLY, Frequency.QUARTERLY, Frequency.ANNUAL])),
                             policy=draw(st.sampled_from(list(Policy))), minimum_commitment=D("50"))
    subs = [make_sub(quantity=5), make_sub(provider_subscription_id="AZ-1", id="s-az", kind=SubscriptionKind.AZURE_PLAN,
                                           quantity=1, unit_price=D(0))]
    logs, qty = [], 5
    for i in range(draw(st.integers(0, 3))):
        new = draw(st.integers(1, 20))
        day = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 70)))
        logs.append(ChangeLog(f"L{i}", "s-1", ChangeType.INCREASE if new > qty else ChangeType.DECREASE, day, qty, new,
                              id=f"log-{i}"))
        qty = new
    usage = [UsageSummary(f"U{i}", "AZ-1", f"2026-0{1 + i % 2}", "USD", D("12.345"), id=f"u-{i}",
                          meter_category=f"M{i % 2}") for i in range(draw(st.integers(0, 3)))]
    items = [OneTimeItem("RI", "c-1", "Reservation", 1, D("99.99"), date(2026, 1, 20))] if draw(st.booleans()) else []
    return BillingData([contract], subs, logs, usage, items), draw(st.integers(0, 25))


RUN_DATES = [date(2026, 1, 2), date(2026, 2, 2), date(2026, 3, 2), date(2026, 4, 2)]


def run_all(repo, days=RUN_DATES):
    for day in days:
        repo.last_day = day
        execute_run(repo, day)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world())
def test_crash_anywhere_then_rerun_equals_one_clean_run(case):
    data, crash_at = case
    clean = MemoryBillingRepository(data)
    run_all(clean)
    expected = clean.snapshot()

    crashed = MemoryBillingRepository(data, crash_after=crash_at)
    try:
        run_all(crashed)
    except RetriableError:
        pass
    crashed.crash_after = None
    # The host retries the crashed day, then the timer goes on with the following days.
    run_all(crashed, [d for d in RUN_DATES if d >= crashed.last_day])
    assert crashed.snapshot() == expected
    writes = crashed.writes
    run_all(crashed)
    assert crashed.writes == writes and crashed.snapshot() == expected
    for complete, _total in expected["invoices"].values():
        assert complete


def test_failed_contract_is_reported_and_others_still_billed():
    good = make_contract(number="C-2", id="c-2")
    data = BillingData([make_contract(currency="EUR"), good],
                       [make_sub(currency="USD"), make_sub(contract_id="c-2", id="s-2", provider_subscription_id="PS-2")])
    result = execute_run(MemoryBillingRepository(data), date(2026, 1, 2))
    assert [i.contract_number for i in result.invoices] == ["C-2"]
    assert result.errors == [("C-1", "no exchange rate USD->EUR for 2026-01: add it to the exchange-rate table "
                                    "(from USD, to EUR, month 2026-01)")]


def test_retriable_errors_escape():
    repo = MemoryBillingRepository(BillingData([make_contract()], [make_sub()]), crash_after=0)
    with pytest.raises(RetriableError):
        execute_run(repo, date(2026, 1, 2))
