from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing.deferred_revenue import needs_schedule, schedule, split_evenly, to_csv
from billing.models import ChangeType, Frequency, Policy, SubscriptionStatus
from billing.renewals import contract_renewal_date, coterm, term_end_changes
from billing.runs import BillingData, plan_run
from tests.plugins.billing import make_contract, make_sub


def test_remainder_cents_go_to_the_earliest_months():
    assert split_evenly(D("100.00"), 12, "USD") == [D("8.34")] * 4 + [D("8.33")] * 8
    assert split_evenly(D("-0.05"), 3, "USD") == [D("-0.02"), D("-0.02"), D("-0.01")]
    assert split_evenly(D("1000"), 12, "JPY") == [D("84")] * 4 + [D("83")] * 8


def test_annual_prepaid_invoice_schedule_and_csv():
    c = make_contract(frequency=Frequency.ANNUAL, tax_rate_pct=D("10"))
    inv = plan_run(BillingData([c], [make_sub(quantity=1, unit_price=D("100.00"))]), date(2026, 1, 2)).invoices[0]
    entries = schedule(inv)
    assert [e.month for e in entries][:2] == ["2026-01", "2026-02"] and len(entries) == 12
    assert sum(e.amount for e in entries) == D("1200.00")  # tax excluded
    assert entries[0].key == "C-1|2026-01-01|cycle|2026-01"
    csv_text = to_csv(entries)
    assert csv_text.splitlines()[0] == "schedule_key,invoice_key,month,amount,currency,exported"
    assert csv_text.splitlines()[1] == "C-1|2026-01-01|cycle|2026-01,C-1|2026-01-01|cycle,2026-01,100.00,USD,0"


def test_only_prepaid_quarterly_annual_triennial_are_deferred():
    assert needs_schedule(Frequency.QUARTERLY, Policy.ADVANCE)
    assert not needs_schedule(Frequency.MONTHLY, Policy.ADVANCE)
    assert not needs_schedule(Frequency.ANNUAL, Policy.ARREARS)


def test_coterm_aligns_to_contract_renewal():
    c = make_contract(start_date=date(2025, 7, 1))
    assert contract_renewal_date(c, date(2026, 3, 10)) == date(2026, 6, 30)
    assert coterm(make_sub(start_date=date(2026, 3, 10), term="P1Y"), c).commitment_end_date == date(2026, 6, 30)
    # A monthly term keeps its one-month commitment; billing still follows the contract's cycles.
    assert coterm(make_sub(start_date=date(2026, 3, 10), term="P1M"), c).commitment_end_date == date(2026, 4, 9)
    # A three-year term co-terms only to a renewal inside its own first term (here: the next one).
    assert coterm(make_sub(start_date=date(2026, 3, 10), term="P3Y"), c).commitment_end_date == date(2026, 6, 30)


def test_term_end_renews_or_cancels():
    renew = make_sub(commitment_end_date=date(2026, 1, 31), term="P1Y")
    stop = make_sub(provider_subscription_id="PS-2", id="s-2", commitment_end_date=date(2026, 1, 31), auto_renew=False)
    running = make_sub(provider_subscription_id="PS-3", id="s-3", commitment_end_date=date(2026, 5, 31))
    logs, subs = term_end_changes([renew, stop, running], date(2026, 2, 1))
    assert [(lg.change_key, lg.change_type, lg.new_quantity) for lg in logs] == [
        ("PS-1|renew|2026-02-01", ChangeType.RENEW, 10), ("PS-2|cancel|2026-02-01", ChangeType.CANCEL, 0)]
    assert subs[0].commitment_end_date == date(2027, 1, 31)
    assert subs[1].status is SubscriptionStatus.CANCELLED
