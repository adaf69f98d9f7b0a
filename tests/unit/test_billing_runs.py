from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing.cycles import due_cycles
from billing.models import (
    ChangeLog,
    ChangeType,
    ExchangeRate,
    Frequency,
    InvoiceKind,
    LineType,
    OneTimeItem,
    Policy,
    ProrateUnit,
    RefundPolicy,
    SubscriptionKind,
    SubscriptionStatus,
    UsageGrouping,
    UsageSummary,
    invoice_key,
)
from billing.runs import BillingData, preview
from billing.runs import plan_run as _plan_run
from tests.plugins.billing import make_contract, make_sub


def invoiced_before(data, day):
    """Keys of every cycle due before the latest one: these tests look at one run of a contract
    whose earlier cycles were invoiced by earlier runs."""
    return [invoice_key(c.number, cy.start, InvoiceKind.CYCLE) for c in data.contracts for cy in due_cycles(c, day)[:-1]]


def plan_run(data, day, **kw):
    kw.setdefault("existing_invoice_keys", invoiced_before(data, day))
    return _plan_run(data, day, **kw)


def log(key, kind, day, old, new, **kw):
    return ChangeLog(key, "s-1", kind, day, old, new, **kw)


def one(data, day, **kw):
    plan = plan_run(data, day, **kw)
    assert plan.errors == []
    assert len(plan.invoices) == 1, plan.invoices
    return plan.invoices[0]


def by_type(inv, line_type):
    return [ln for ln in inv.lines if ln.line_type is line_type]


def test_advance_full_cycle_and_increase_prorated_next_invoice():
    data = BillingData([make_contract()], [make_sub(quantity=15)],
                       [log("L1", ChangeType.INCREASE, date(2026, 1, 16), 10, 15)])
    jan = one(data, date(2026, 1, 2))
    assert [(ln.line_type, ln.quantity, ln.base_amount) for ln in jan.lines] == [(LineType.LICENSE, 10, D("120.00"))]
    assert jan.key == "C-1|2026-01-01|cycle" and jan.invoice_date == date(2026, 1, 2)
    feb = one(data, date(2026, 2, 2))
    lic, pro = feb.lines
    assert (lic.quantity, lic.base_amount) == (15, D("180.00"))
    # 5 seats x 12.00 x 16/31 days
    assert (pro.line_type, pro.quantity, pro.base_amount) == (LineType.PRORATION, 5, D("30.97"))
    assert feb.change_log_keys == ("L1",)
    assert feb.total == D("210.97")


def test_reduction_credited_only_when_refunds_allowed():
    logs = [log("L1", ChangeType.DECREASE, date(2026, 1, 21), 10, 4)]
    sub = make_sub(quantity=4, start_date=date(2025, 1, 1))
    yes = one(BillingData([make_contract(refund_policy=RefundPolicy.YES)], [sub], logs), date(2026, 2, 2))
    credit = by_type(yes, LineType.CREDIT)[0]
    assert credit.base_amount == D("-25.55")  # 6 seats x 12 x 11/31
    no = one(BillingData([make_contract(refund_policy=RefundPolicy.NO)], [sub], logs), date(2026, 2, 2))
    assert by_type(no, LineType.CREDIT) == [] and no.change_log_keys == ("L1",)
    glob = plan_run(BillingData([make_contract()], [sub], logs), date(2026, 2, 2), global_refund=False).invoices[0]
    assert by_type(glob, LineType.CREDIT) == []


def test_cancel_inside_nce_window_is_credited_as_the_refund_policy_says():
    # Microsoft refunds the partner for a cancel within 168 hours; the contract decides whether the
    # customer is credited (Work 365 "Process Refunds").
    sub = make_sub(start_date=date(2026, 1, 10), status=SubscriptionStatus.CANCELLED)
    logs = [log("N", ChangeType.NEW, date(2026, 1, 10), 0, 10), log("X", ChangeType.CANCEL, date(2026, 1, 14), 10, 10)]
    inv = one(BillingData([make_contract(refund_policy=RefundPolicy.YES)], [sub], logs), date(2026, 2, 2))
    charge, credit = by_type(inv, LineType.PRORATION)[0], by_type(inv, LineType.CREDIT)[0]
    assert charge.base_amount == D("85.16")  # 10 x 12 x 22/31
    assert credit.base_amount == D("-69.68")  # 10 x 12 x 18/31
    assert by_type(inv, LineType.LICENSE) == []
    refused = one(BillingData([make_contract(refund_policy=RefundPolicy.NO)], [sub], logs), date(2026, 2, 2))
    assert by_type(refused, LineType.CREDIT) == [] and refused.change_log_keys == ("N", "X")


def test_arrears_bills_each_segment_and_always_credits():
    c = make_contract(policy=Policy.ARREARS, refund_policy=RefundPolicy.NO)
    logs = [log("L1", ChangeType.DECREASE, date(2026, 1, 11), 10, 5)]
    inv = one(BillingData([c], [make_sub(quantity=5)], logs), date(2026, 2, 1))
    assert inv.invoice_date == date(2026, 2, 1)
    lic, = by_type(inv, LineType.LICENSE)
    credit, = by_type(inv, LineType.CREDIT)
    assert lic.base_amount == D("120.00") and credit.base_amount == D("-40.65")  # 5 x 12 x 21/31
    assert inv.total == D("79.35")


def test_archived_change_is_not_billed_but_ends_the_subscription():
    sub = make_sub(status=SubscriptionStatus.CANCELLED, start_date=date(2025, 1, 1))
    logs = [log("X", ChangeType.CANCEL, date(2026, 1, 20), 10, 10, archived=True)]
    assert plan_run(BillingData([make_contract(refund_policy=RefundPolicy.YES)], [sub], logs), date(2026, 2, 2)).invoices == []


def test_month_proration_and_price_change():
    c = make_contract(frequency=Frequency.QUARTERLY, prorate_unit=ProrateUnit.MONTHS, policy=Policy.ARREARS)
    logs = [log("P", ChangeType.PRICE_CHANGE, date(2026, 2, 15), 10, 10, old_price=D("12.00"), new_price=D("15.00"))]
    inv = one(BillingData([c], [make_sub(unit_price=D("15.00"))], logs), date(2026, 4, 1))
    lic, = by_type(inv, LineType.LICENSE)
    pro, = by_type(inv, LineType.PRORATION)
    assert lic.base_amount == D("360.00")  # 10 x 12 x 3 months at the price on the cycle start
    assert pro.base_amount == D("60.00")  # 10 x 3.00 x 2 started months


def test_term_and_billing_frequency_set_the_cycle_price():
    monthly_annual_term = make_sub(term="P1Y", billing_frequency="P1M", unit_price=D("14.40"))
    annual = make_sub(term="P1Y", billing_frequency="P1Y", unit_price=D("144.00"), provider_subscription_id="PS-2", id="s-2")
    inv = one(BillingData([make_contract()], [monthly_annual_term, annual]), date(2026, 1, 2))
    assert [ln.base_amount for ln in inv.lines] == [D("144.00"), D("120.00")]
    yearly = one(BillingData([make_contract(frequency=Frequency.ANNUAL)], [annual]), date(2026, 1, 2))
    assert yearly.total == D("1440.00")


def test_taxes_and_discounts_scale_with_the_prorated_line():
    c = make_contract(discount_pct=D("10"), tax_rate_pct=D("20"))
    logs = [log("L1", ChangeType.INCREASE, date(2026, 1, 17), 10, 20)]
    inv = one(BillingData([c], [make_sub(quantity=20)], logs), date(2026, 2, 2))
    pro, = by_type(inv, LineType.PRORATION)
    assert (pro.base_amount, pro.discount, pro.tax) == (D("58.06"), D("5.81"), D("10.45"))
    assert pro.amount == D("62.70")
    assert inv.total == sum(ln.amount for ln in inv.lines)


def test_late_change_rolls_into_next_invoice_for_every_cycle_missed():
    logs = [log("L1", ChangeType.INCREASE, date(2026, 1, 16), 10, 15)]
    data = BillingData([make_contract()], [make_sub(quantity=15)], logs)
    inv = one(data, date(2026, 3, 2), existing_invoice_keys={"C-1|2026-01-01|cycle", "C-1|2026-02-01|cycle"})
    pro, = by_type(inv, LineType.PRORATION)
    assert (pro.period_start, pro.period_end) == (date(2026, 1, 16), date(2026, 2, 28))
    assert pro.base_amount == D("90.97")  # 5 x 12 x (16/31 + 1)


def test_implicit_start_prorates_first_partial_cycle_once():
    data = BillingData([make_contract()], [make_sub(start_date=date(2026, 1, 11))])
    jan = plan_run(data, date(2026, 1, 2)).invoices
    assert jan == []
    feb = one(data, date(2026, 2, 2))
    pro, = by_type(feb, LineType.PRORATION)
    assert pro.base_amount == D("81.29")  # 10 x 12 x 21/31
    again = one(data, date(2026, 2, 2), billed_line_keys={pro.key})
    assert by_type(again, LineType.PRORATION) == []


def test_trial_never_billed_and_term_end_without_renewal_cuts_the_line():
    trial = make_sub(status=SubscriptionStatus.TRIAL)
    assert plan_run(BillingData([make_contract()], [trial]), date(2026, 1, 2)).invoices == []
    ending = make_sub(auto_renew=False, commitment_end_date=date(2026, 1, 15))
    inv = one(BillingData([make_contract()], [ending]), date(2026, 1, 2))
    assert inv.lines[0].base_amount == D("58.06") and inv.lines[0].period_end == date(2026, 1, 15)
    assert plan_run(BillingData([make_contract()], [ending]), date(2026, 2, 2)).invoices == []


def test_one_time_items_billed_once_not_prorated():
    item = OneTimeItem("RI-1", "c-1", "Reserved VM 1y", 2, D("999.99"), date(2026, 1, 20))
    data = BillingData([make_contract()], [], one_time_items=[item])
    inv = one(data, date(2026, 2, 2))
    assert [(ln.line_type, ln.base_amount) for ln in inv.lines] == [(LineType.ONE_TIME, D("1999.98"))]
    assert plan_run(data, date(2026, 2, 2), billed_line_keys={"onetime|RI-1"}).invoices == []


def usage(key, period, cost, **kw):
    return UsageSummary(key, kw.pop("sub", "AZ-1"), period, kw.pop("currency", "USD"), D(cost), **kw)


AZ = make_sub(provider_subscription_id="AZ-1", id="s-az", kind=SubscriptionKind.AZURE_PLAN, quantity=1,
              unit_price=D("0"))


def test_usage_marked_up_billed_in_arrears_and_late_usage_rolls():
    c = make_contract(usage_markup_pct=D("15"), start_date=date(2026, 1, 15))
    rows = [usage("U1", "2026-01", "100.00", meter_category="Compute"),
            usage("U2", "2026-02", "50.00", meter_category="Storage"),
            usage("U0", "2025-12", "10.00", meter_category="Compute")]
    inv = one(BillingData([c], [AZ], usage=rows), date(2026, 2, 16))
    line, = inv.lines
    assert line.line_type is LineType.USAGE and line.base_amount == D("126.50")
    assert line.usage_summary_keys == ("U0", "U1")  # February has not ended before the cutoff


def test_usage_grouping_and_minimum_commitment():
    c = make_contract(policy=Policy.ARREARS, usage_grouping=UsageGrouping.METER_CATEGORY,
                      minimum_commitment=D("500.00"))
    rows = [usage("U1", "2026-01", "100.004", meter_category="Compute"),
            usage("U2", "2026-01", "100.004", meter_category="Compute"),
            usage("U3", "2026-01", "50", meter_category="Storage")]
    inv = one(BillingData([c], [AZ], usage=rows), date(2026, 2, 1))
    assert [(ln.description, ln.base_amount) for ln in inv.lines] == [
        ("Usage Compute (2026-01)", D("200.01")), ("Usage Storage (2026-01)", D("50.00")),
        ("Minimum commitment top-up (2026-01-01 to 2026-01-31)", D("249.99"))]
    assert inv.total == D("500.00")


def test_multi_currency_uses_rate_of_the_month_and_reports_missing_rate():
    c = make_contract(currency="EUR")
    rows = [ExchangeRate("2026-01", "USD", "EUR", D("0.9"))]
    inv = one(BillingData([c], [make_sub(currency="USD")], rates=rows), date(2026, 1, 2))
    assert inv.currency == "EUR" and inv.total == D("108.00")
    plan = plan_run(BillingData([c], [make_sub(currency="USD")]), date(2026, 1, 2))
    assert plan.invoices == [] and plan.errors == [("C-1", "no exchange rate USD->EUR for 2026-01: add it to the exchange-rate table "
                                                   "(from USD, to EUR, month 2026-01)")]


def test_jpy_has_no_minor_unit():
    c = make_contract(currency="JPY")
    inv = one(BillingData([c], [make_sub(currency="JPY", unit_price=D("1234.5"), quantity=1)]), date(2026, 1, 2))
    assert inv.total == D("1235")


def test_spanish_invoice_wording():
    inv = one(BillingData([make_contract(language="es")], [make_sub()]), date(2026, 1, 2))
    assert inv.name.startswith("Factura C-1") and "del 2026-01-01" in inv.lines[0].description


def test_rerun_with_written_keys_plans_nothing_and_same_inputs_same_plan():
    data = BillingData([make_contract()], [make_sub()])
    first = plan_run(data, date(2026, 1, 2))
    assert first == plan_run(data, date(2026, 1, 2))
    assert plan_run(data, date(2026, 1, 2), existing_invoice_keys=[i.key for i in first.invoices]).invoices == []


def test_summary_per_currency():
    data = BillingData([make_contract(), make_contract(number="C-2", id="c-2", currency="EUR")],
                       [make_sub(), make_sub(contract_id="c-2", id="s-2", provider_subscription_id="PS-2")])
    assert plan_run(data, date(2026, 1, 2)).summary() == {
        "EUR": {"invoices": 1, "lines": 1, "total": D("120.00")},
        "USD": {"invoices": 1, "lines": 1, "total": D("120.00")}}


def test_preview_shows_next_invoice():
    data = BillingData([make_contract()], [make_sub()])
    inv = preview(data.contracts[0], data, date(2026, 1, 10))
    assert inv.period_start == date(2026, 2, 1) and inv.total == D("120.00")
    assert preview(data.contracts[0], data, date(2026, 1, 10), existing_invoice_keys={inv.key}).period_start == date(2026, 3, 1)


def test_usage_grouped_by_resource_group_tag_untagged_together():
    c = make_contract(policy=Policy.ARREARS, usage_grouping=UsageGrouping.RESOURCE_GROUP_TAG)
    rows = [usage("U1", "2026-01", "10", resource_group_tag="team=web"), usage("U2", "2026-01", "5"),
            usage("U3", "2026-01", "1", resource_group_tag="team=web"), usage("U4", "2026-01", "2")]
    inv = one(BillingData([c], [AZ], usage=rows), date(2026, 2, 1))
    assert [(ln.key.rsplit("|", 1)[1], ln.base_amount, ln.usage_summary_keys) for ln in inv.lines] == [
        ("team=web", D("11.00"), ("U1", "U3")), ("untagged", D("7.00"), ("U2", "U4"))]


def test_billed_usage_is_never_billed_again():
    c = make_contract(policy=Policy.ARREARS)
    rows = [usage("U1", "2026-01", "10", billed=True), usage("U2", "2026-01", "5", invoice_id="inv-1")]
    assert plan_run(BillingData([c], [AZ], usage=rows), date(2026, 2, 1)).invoices == []


def test_minimum_commitment_only_with_usage_subscriptions_and_for_the_ended_period():
    lic_only = make_contract(minimum_commitment=D("100"))
    inv = one(BillingData([lic_only], [make_sub()]), date(2026, 2, 2))
    assert [ln.line_type for ln in inv.lines] == [LineType.LICENSE]
    advance = make_contract(minimum_commitment=D("100"))
    assert plan_run(BillingData([advance], [AZ]), date(2026, 1, 2)).invoices == []
    feb = one(BillingData([advance], [AZ]), date(2026, 2, 2))
    top_up, = feb.lines
    assert (top_up.line_type, top_up.base_amount, top_up.period_start) == (
        LineType.MINIMUM_COMMITMENT, D("100.00"), date(2026, 1, 1))
