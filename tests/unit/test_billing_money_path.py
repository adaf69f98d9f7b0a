"""One test per rule of the money path (issue 12): usage sources and true-ups, currency, missed
runs, new-commerce windows, suspended subscriptions, dates, tax."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

from billing import newcommerce
from billing.models import (
    ChangeLog,
    ChangeType,
    ExchangeRate,
    Frequency,
    InvoiceKind,
    LineType,
    Policy,
    SubscriptionKind,
    SubscriptionStatus,
    SuspendedBilling,
    TaxCategory,
    TaxRate,
    UsageSource,
    UsageSummary,
)
from billing.run_service import execute_run
from billing.runs import BillingData, plan_run
from billing.tax import TableTaxCalculator
from tests.plugins.billing import MemoryBillingRepository, make_contract, make_sub

AZ = make_sub(provider_subscription_id="AZ-1", id="s-az", quantity=1, unit_price=D(0), kind=SubscriptionKind.AZURE_PLAN)


def usage(period="2026-01", cost="100.00", source=UsageSource.BILLED, **kw):  # type: ignore[no-untyped-def]
    return UsageSummary(f"AZ-1|{period}|Compute", "AZ-1", period, "USD", D(cost), id=f"u-{period}", source=source,
                        meter_category="Compute", **kw)


def usage_lines(inv):  # type: ignore[no-untyped-def]
    return [ln for ln in inv.lines if ln.usage_summary_keys]


# ---- usage -----------------------------------------------------------------------------------

def test_estimated_usage_is_not_billed_by_default_only_microsofts_billed_figures():
    contract = make_contract(policy=Policy.ARREARS, next_invoice_date=date(2026, 3, 1))
    plan = plan_run(BillingData([contract], [AZ], usage=[usage(source=UsageSource.UNBILLED)]), date(2026, 3, 1))
    assert all(not usage_lines(inv) for inv in plan.invoices)
    billed = plan_run(BillingData([contract], [AZ], usage=[usage()]), date(2026, 3, 1))
    assert [ln.base_amount for inv in billed.invoices for ln in usage_lines(inv)] == [D("100.00")]


def test_estimated_usage_after_day_n_then_a_true_up_when_microsoft_bills_a_different_figure():
    contract = make_contract(policy=Policy.ARREARS, estimated_usage_day=5, billing_offset_days=5,
                             next_invoice_date=date(2026, 2, 5))
    estimate = usage(cost="100.00", source=UsageSource.UNBILLED)
    # Jan usage on the invoice of Feb 5: day 5 of the following month, the estimate is billed.
    repo = MemoryBillingRepository(BillingData([contract], [AZ], usage=[estimate]))
    feb = execute_run(repo, date(2026, 2, 5))
    line, = [ln for inv in feb.invoices for ln in usage_lines(inv)]
    assert line.base_amount == D("100.00") and "Estimated" in line.description
    # Microsoft's billed figure arrives (same summary key, source billed) and differs.
    stored = repo.data.usage[0]
    assert (stored.billed, stored.billed_source, stored.billed_cost) == (True, UsageSource.UNBILLED, D("100.00"))
    repo.data = BillingData(repo.data.contracts, repo.data.subscriptions, (),
                            [UsageSummary(**{**stored.__dict__, "cost": D("112.50"), "source": UsageSource.BILLED})])
    mar = execute_run(repo, date(2026, 3, 5))
    true_up, = [ln for inv in mar.invoices for ln in inv.lines if "|trueup|" in ln.key]
    assert true_up.base_amount == D("12.50") and true_up.period_start == date(2026, 1, 1)
    # Settled: the next run bills no second true-up.
    apr = execute_run(repo, date(2026, 4, 5))
    assert not [ln for inv in apr.invoices for ln in inv.lines if "|trueup|" in ln.key]


def test_estimated_usage_waits_for_day_n():
    contract = make_contract(policy=Policy.ARREARS, estimated_usage_day=10, next_invoice_date=date(2026, 2, 1))
    plan = plan_run(BillingData([contract], [AZ], usage=[usage(source=UsageSource.UNBILLED)]), date(2026, 2, 1))
    assert all(not usage_lines(inv) for inv in plan.invoices)


def test_late_usage_goes_on_the_next_open_invoice_not_a_back_dated_one():
    contract = make_contract(policy=Policy.ARREARS, next_invoice_date=date(2026, 4, 1))
    plan = plan_run(BillingData([contract], [AZ], usage=[usage(period="2026-01")]), date(2026, 4, 1),
                    existing_invoice_keys={"C-1|2026-01-01|cycle"})
    inv, = plan.invoices
    assert inv.key == "C-1|2026-03-01|cycle" and usage_lines(inv)[0].period_start == date(2026, 1, 1)


def test_usage_billed_flag_unset_is_not_billed_and_billed_row_never_again():
    contract = make_contract(policy=Policy.ARREARS, next_invoice_date=date(2026, 2, 1))
    done = usage(billed=True, invoice_id="inv-1", billed_cost=D("100.00"), billed_source=UsageSource.BILLED)
    assert all(not usage_lines(inv) for inv in plan_run(BillingData([contract], [AZ], usage=[done]),
                                                        date(2026, 2, 1)).invoices)


# ---- currency --------------------------------------------------------------------------------

def test_customer_in_a_non_pricing_currency_is_priced_from_usd_with_the_rate_shown():
    contract = make_contract(currency="COP", next_invoice_date=date(2026, 1, 2))
    sub = make_sub(currency="")  # no price currency recorded: Microsoft prices COP customers in USD
    rates = [ExchangeRate("2026-01", "USD", "COP", D("4000"), "Partner Center fxrates 202601")]
    inv, = plan_run(BillingData([contract], [sub], rates=rates), date(2026, 1, 2)).invoices
    line, = inv.lines
    assert inv.currency == "COP" and line.base_amount == D("480000.00")  # 10 x 12.00 USD x 4000
    assert (line.source_currency, line.exchange_rate, line.rate_month) == ("USD", D("4000"), "2026-01")
    # Without a rate nothing is labelled COP: the contract fails with a message naming pair and month.
    plan = plan_run(BillingData([contract], [sub]), date(2026, 1, 2))
    assert plan.invoices == [] and "USD->COP for 2026-01" in plan.errors[0][1]


def test_line_in_the_contract_currency_records_no_conversion():
    inv, = plan_run(BillingData([make_contract(next_invoice_date=date(2026, 1, 2))], [make_sub(currency="USD")]),
                    date(2026, 1, 2)).invoices
    assert inv.lines[0].source_currency == "" and inv.lines[0].exchange_rate is None


def test_change_log_line_converts_at_the_rate_of_the_month_the_change_took_effect():
    contract = make_contract(currency="EUR", next_invoice_date=date(2026, 3, 2))
    logs = [ChangeLog("L1", "s-1", ChangeType.INCREASE, date(2026, 1, 16), 10, 15, id="l1")]
    rates = [ExchangeRate("2026-01", "USD", "EUR", D("0.90")), ExchangeRate("2026-03", "USD", "EUR", D("0.80"))]
    # Entered late: billed on the March invoice, still at January's rate.
    inv, = plan_run(BillingData([contract], [make_sub(quantity=15, currency="USD")], logs, rates=rates),
                    date(2026, 3, 2), existing_invoice_keys={"C-1|2026-02-01|cycle"}).invoices
    pro = next(ln for ln in inv.lines if ln.line_type is LineType.PRORATION)
    assert (pro.exchange_rate, pro.rate_month) == (D("0.90"), "2026-01")
    lic = next(ln for ln in inv.lines if ln.line_type is LineType.LICENSE)
    assert (lic.exchange_rate, lic.rate_month) == (D("0.80"), "2026-03")


def test_missing_rate_fails_only_that_contract():
    eur = make_contract(currency="EUR", next_invoice_date=date(2026, 1, 2))
    usd = make_contract(number="C-2", id="c-2", next_invoice_date=date(2026, 1, 2))
    plan = plan_run(BillingData([eur, usd], [make_sub(currency="USD"), make_sub(id="s-2", contract_id="c-2",
                                                                                  provider_subscription_id="PS-2")]),
                    date(2026, 1, 2))
    assert [i.contract_number for i in plan.invoices] == ["C-2"]
    assert plan.errors == [("C-1", "no exchange rate USD->EUR for 2026-01: add it to the exchange-rate table "
                                   "(from USD, to EUR, month 2026-01)")]


# ---- missed runs -----------------------------------------------------------------------------

def test_timer_down_for_months_bills_every_cycle_since_the_last_invoiced_one():
    repo = MemoryBillingRepository(BillingData([make_contract()], [make_sub()]))
    execute_run(repo, date(2026, 1, 2))
    assert repo.data.contracts[0].next_invoice_date == date(2026, 2, 2)
    result = execute_run(repo, date(2026, 6, 10))  # down from January to June
    assert [i.period_start.month for i in result.invoices] == [2, 3, 4, 5, 6]
    assert repo.data.contracts[0].next_invoice_date == date(2026, 7, 2)


def test_a_run_limit_is_an_explicit_error_and_bills_nothing_of_that_contract():
    plan = plan_run(BillingData([make_contract()], [make_sub()]), date(2026, 6, 10), catch_up_days=31)
    assert plan.invoices == []
    assert "older than the run's limit of 31 days" in plan.errors[0][1]


def test_a_removal_credits_only_the_charged_part():
    # The decrease took effect before the contract started billing: nothing was charged, nothing credited.
    contract = make_contract(start_date=date(2026, 3, 1), refund_policy=1, next_invoice_date=date(2026, 3, 2))
    logs = [ChangeLog("N", "s-1", ChangeType.NEW, date(2026, 1, 1), 0, 10, id="n"),
            ChangeLog("D", "s-1", ChangeType.DECREASE, date(2026, 2, 10), 10, 4, id="d")]
    plan = plan_run(BillingData([contract], [make_sub(quantity=4)], logs), date(2026, 3, 2))
    assert not [ln for inv in plan.invoices for ln in inv.lines if ln.line_type is LineType.CREDIT]


# ---- new commerce ----------------------------------------------------------------------------

def test_each_seat_addition_has_its_own_168_hour_window():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    added = datetime(2026, 3, 10, 9, tzinfo=UTC)
    additions = newcommerce.seat_additions([(start, 0, 10), (added, 10, 13)])
    assert additions == [(start, 10), (added, 3)]
    now = added + timedelta(hours=100)
    assert newcommerce.refundable_quantity(additions, now) == 3
    ok = newcommerce.check_quantity_change(old_quantity=13, new_quantity=10, start=start, term="P1Y", now=now,
                                           additions=additions)
    assert ok.allowed
    too_many = newcommerce.check_quantity_change(old_quantity=13, new_quantity=9, start=start, term="P1Y", now=now,
                                                 additions=additions)
    assert not too_many.allowed and "only 3 seat(s)" in too_many.reason
    late = newcommerce.check_quantity_change(old_quantity=13, new_quantity=10, start=start, term="P1Y",
                                             now=added + timedelta(hours=169), additions=additions)
    assert not late.allowed


def test_suspended_subscription_keeps_billing_by_default_and_says_so():
    sub = make_sub(status=SubscriptionStatus.SUSPENDED)
    inv, = plan_run(BillingData([make_contract(next_invoice_date=date(2026, 1, 2))], [sub]), date(2026, 1, 2)).invoices
    assert "suspended" in inv.lines[0].description and inv.lines[0].base_amount == D("120.00")
    stop = make_contract(next_invoice_date=date(2026, 1, 2), suspended_billing=SuspendedBilling.STOP_BILLING)
    assert plan_run(BillingData([stop], [sub]), date(2026, 1, 2)).invoices == []


# ---- dates -----------------------------------------------------------------------------------

def test_change_log_invoice_is_dated_the_day_it_is_created_with_service_periods_on_lines():
    annual = make_contract(frequency=Frequency.ANNUAL, next_invoice_date=date(2027, 1, 2), payment_terms_days=15)
    logs = [ChangeLog("L1", "s-1", ChangeType.INCREASE, date(2026, 4, 7), 10, 15, id="l1")]
    plan = plan_run(BillingData([annual], [make_sub(quantity=15)], logs), date(2026, 4, 9))
    inv, = plan.invoices
    assert inv.kind is InvoiceKind.CHANGELOG and inv.invoice_date == date(2026, 4, 9)
    assert inv.due_date == date(2026, 4, 24)
    assert (inv.lines[0].period_start, inv.lines[0].period_end) == (date(2026, 4, 7), date(2026, 12, 31))


# ---- tax -------------------------------------------------------------------------------------

def test_tax_per_line_from_the_jurisdiction_table_by_product_category_with_a_breakdown():
    contract = make_contract(tax_jurisdiction="ES", next_invoice_date=date(2026, 1, 2))
    subs = [make_sub(unit_price=D("10.05"), quantity=1),
            make_sub(id="s-2", provider_subscription_id="PS-2", unit_price=D("10.05"), quantity=1,
                     tax_category=TaxCategory.REDUCED),
            make_sub(id="s-3", provider_subscription_id="PS-3", unit_price=D("50.00"), quantity=1,
                     tax_category=TaxCategory.EXEMPT)]
    table = [TaxRate("ES", TaxCategory.STANDARD, D("21"), "IVA 21%"), TaxRate("ES", TaxCategory.REDUCED, D("10"), "IVA 10%")]
    inv, = plan_run(BillingData([contract], subs, tax_rates=table), date(2026, 1, 2)).invoices
    tax = {ln.subscription_id: (ln.tax, ln.tax_name) for ln in inv.lines}
    assert tax == {"s-1": (D("2.11"), "IVA 21%"), "s-2": (D("1.01"), "IVA 10%"), "s-3": (D("0.00"), "")}
    assert inv.total == D("70.10") + D("3.12")
    assert [(name, rate, net, t) for name, rate, net, t in inv.tax_breakdown()] == [
        ("", D("0"), D("50.00"), D("0.00")), ("IVA 10%", D("10"), D("10.05"), D("1.01")),
        ("IVA 21%", D("21"), D("10.05"), D("2.11"))]


def test_table_calculator_falls_back_to_the_contract_rate_and_rounds_per_line():
    calc = TableTaxCalculator([])
    contract = make_contract(tax_rate_pct=D("8.25"))
    from billing.tax import TaxableLine

    out = calc.calculate(contract, "JPY", date(2026, 1, 2), [TaxableLine("a", D("1001"), TaxCategory.STANDARD)])
    assert out["a"].amount == D("83") and out["a"].rate_pct == D("8.25")


def test_provisioning_allows_removing_seats_added_within_168_hours_after_the_first_window():
    from billing.provisioning_rules import Action, ChangeFacts, decide

    start = datetime(2026, 1, 1, tzinfo=UTC)
    added = datetime(2026, 5, 4, tzinfo=UTC)
    facts = ChangeFacts(change_type=int(ChangeType.DECREASE), provisioning_status=1, origin=1, provider=1,
                        old_quantity=12, new_quantity=10, term="P1Y", start=start, commitment_end=None,
                        provider_subscription_id="PS-1", mca_attested=True, seat_additions=((added, 2),))
    assert decide(facts, added + timedelta(days=3)).action is Action.SET_QUANTITY
    assert decide(facts, added + timedelta(days=8)).action is Action.REFUSE
    from dataclasses import replace
    assert decide(replace(facts, seat_additions=()), added + timedelta(days=3)).action is Action.REFUSE
