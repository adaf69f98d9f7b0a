from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.cycles import cycle_containing, cycles, due_cycles, invoice_date, next_cycle_to_invoice
from billing.models import Frequency, Policy, ProrateUnit
from billing.proration import cycle_share, span_share
from tests.plugins.billing import make_contract


def test_month_end_start_does_not_drift():
    c = make_contract(start_date=date(2026, 1, 31))
    starts = [cy.start for cy in cycles(c, until=date(2026, 4, 30))]
    assert starts == [date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30)]


@pytest.mark.parametrize("freq,ends", [
    (Frequency.MONTHLY, date(2026, 1, 31)),
    (Frequency.QUARTERLY, date(2026, 3, 31)),
    (Frequency.ANNUAL, date(2026, 12, 31)),
    (Frequency.TRIENNIAL, date(2028, 12, 31)),
])
def test_first_cycle_per_frequency(freq, ends):
    first = next(cycles(make_contract(frequency=freq)))
    assert (first.start, first.end) == (date(2026, 1, 1), ends)


def test_end_date_cuts_final_cycle_short():
    c = make_contract(frequency=Frequency.ANNUAL, start_date=date(2020, 1, 1), end_date=date(2021, 6, 30))
    got = list(cycles(c))
    assert [(x.start, x.end) for x in got] == [(date(2020, 1, 1), date(2020, 12, 31)), (date(2021, 1, 1), date(2021, 6, 30))]
    # The prorated final term is half a year's price by months, and by exact days.
    assert cycle_share(make_contract(frequency=Frequency.ANNUAL, prorate_unit=ProrateUnit.MONTHS), got[1],
                       got[1].start, got[1].end) == Decimal(6) / 12
    assert span_share(c, got[1].start, date(2021, 7, 1)) == Decimal(181) / 365


def test_default_invoice_dates_advance_and_arrears():
    adv = make_contract()
    arr = make_contract(policy=Policy.ARREARS)
    first = next(cycles(adv))
    assert invoice_date(adv, first) == date(2026, 1, 2)
    assert invoice_date(arr, first) == date(2026, 2, 1)
    assert invoice_date(make_contract(billing_offset_days=-5), first) == date(2025, 12, 27)


def test_due_cycles_bill_every_cycle_since_the_next_invoice_date():
    c = make_contract(start_date=date(2025, 1, 1))
    # No silent horizon: a timer down for 14 months still finds every cycle.
    assert len(due_cycles(c, date(2026, 3, 2))) == 15
    assert [x.start for x in due_cycles(c, date(2026, 3, 2), catch_up_days=31)] == [date(2026, 2, 1), date(2026, 3, 1)]
    assert due_cycles(c, date(2024, 12, 31)) == []
    resumed = make_contract(start_date=date(2025, 1, 1), next_invoice_date=date(2025, 11, 2))
    assert [x.start for x in due_cycles(resumed, date(2026, 3, 2))] == [
        date(2025, 11, 1), date(2025, 12, 1), date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]


def test_cycle_containing_and_next():
    c = make_contract(frequency=Frequency.QUARTERLY)
    assert cycle_containing(c, date(2026, 5, 17)).start == date(2026, 4, 1)
    assert cycle_containing(c, date(2025, 5, 17)) is None
    assert next_cycle_to_invoice(c, date(2026, 1, 3)).start == date(2026, 4, 1)


def test_month_proration_counts_started_months():
    c = make_contract(frequency=Frequency.QUARTERLY, prorate_unit=ProrateUnit.MONTHS)
    q1 = next(cycles(c))
    assert cycle_share(c, q1, date(2026, 2, 15), q1.end) == Decimal(2) / 3
    assert cycle_share(c, q1, q1.start, q1.end) == 1


def test_day_proration_uses_exact_period_length():
    c = make_contract()
    feb = list(cycles(c, until=date(2026, 2, 1)))[1]
    assert cycle_share(c, feb, date(2026, 2, 15), feb.end) == Decimal(14) / 28
