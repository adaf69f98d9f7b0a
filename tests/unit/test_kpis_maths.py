from datetime import date, datetime
from decimal import Decimal

from billing.kpis import ChangeFact, InvoiceFact, SeatBillingFact, SubscriptionFact, compare, compute, series
from billing.models import ChangeType, Provider, ProvisioningStatus, SubscriptionKind, SubscriptionStatus

AS_OF = date(2026, 11, 25)
D = Decimal


def subs():
    return [
        # 10 seats at 12.00/month, cost 10.00
        SubscriptionFact("a", "USD", 10, D("12.00"), D("10.00"), "P1M"),
        # annual billing: 120/yr per seat = 10/month; 5 seats
        SubscriptionFact("b", "USD", 5, D("120.00"), D("96.00"), "P1Y", provider=Provider.MANUAL),
        # usage and trials never count
        SubscriptionFact("azure", "USD", 1, D("500"), D("400"), "P1M", kind=SubscriptionKind.AZURE_PLAN),
        SubscriptionFact("trial", "USD", 25, D("10"), D("0"), "P1M", status=SubscriptionStatus.TRIAL),
        SubscriptionFact("eur", "EUR", 3, D("20.00"), D("15.00"), "P1M"),
    ]


def test_mrr_arr_margin_and_seats_are_recurring_only_and_per_currency():
    r = compute(as_of=AS_OF, subscriptions=subs(), changes=[], invoices=[])
    usd = r.currencies["USD"]
    assert usd.mrr == D("170.00")  # 10*12 + 5*10
    assert usd.arr == D("2040.00")
    assert usd.mrc == D("140.00")  # 10*10 + 5*8
    assert usd.gross_margin_pct == D("17.6")  # 30/170
    assert usd.seats == 15
    assert r.currencies["EUR"].mrr == D("60.00")
    assert r.seats == 18
    assert r.active_subscriptions == 3
    assert r.primary_currency() == "USD"


def test_churn_contraction_use_the_mrr_at_window_start():
    changes = [
        ChangeFact("a", ChangeType.DECREASE, 12, 10, datetime(2026, 11, 20), ProvisioningStatus.PROVISIONED),
        ChangeFact("b", ChangeType.INCREASE, 4, 5, datetime(2026, 11, 21), ProvisioningStatus.PROVISIONED),
        # a cancelled subscription is no longer active, but its old MRR counts as churn
        ChangeFact("gone", ChangeType.CANCEL, 5, 0, datetime(2026, 11, 22), ProvisioningStatus.PROVISIONED),
        # refused, outside the window, or archived changes did not happen (for this window)
        ChangeFact("a", ChangeType.DECREASE, 10, 1, datetime(2026, 11, 23), ProvisioningStatus.REFUSED),
        ChangeFact("a", ChangeType.DECREASE, 20, 12, datetime(2026, 9, 1), ProvisioningStatus.PROVISIONED),
        ChangeFact("a", ChangeType.INCREASE, 1, 50, datetime(2026, 11, 23), ProvisioningStatus.PROVISIONED,
                   archived=True),
    ]
    facts = subs() + [SubscriptionFact("gone", "USD", 5, D("12.00"), D("10"), "P1M",
                                       status=SubscriptionStatus.CANCELLED)]
    usd = compute(as_of=AS_OF, subscriptions=facts, changes=changes, invoices=[]).currencies["USD"]
    assert usd.contraction_mrr == D("24.00")
    assert usd.expansion_mrr == D("10.00")
    assert usd.churned_mrr == D("60.00")
    assert usd.start_mrr == D("244.00")  # 170 - 10 + 24 + 60
    assert usd.churn_rate_pct == D("24.6")
    assert usd.contraction_rate_pct == D("9.8")


def test_dso_uses_open_balance_over_trailing_sales():
    invoices = [
        InvoiceFact("USD", D("900.00"), D("300.00"), date(2026, 11, 1)),
        InvoiceFact("USD", D("900.00"), D("0.00"), date(2026, 10, 1)),
        InvoiceFact("USD", D("900.00"), D("0.00"), date(2026, 9, 1)),
        InvoiceFact("USD", D("5000.00"), D("0.00"), date(2026, 1, 1)),  # outside the 90 days
        InvoiceFact("USD", D("100.00"), D("100.00"), date(2026, 12, 1)),  # after as_of
    ]
    usd = compute(as_of=AS_OF, subscriptions=[], changes=[], invoices=invoices).currencies["USD"]
    assert usd.receivables == D("300.00")
    assert usd.dso_days == D("10.0")  # 300 / 2700 * 90


def test_touchless_share_counts_errors_and_the_manual_provider_as_touched():
    t = datetime(2026, 11, 24)
    changes = [
        ChangeFact("a", ChangeType.INCREASE, 1, 2, t, ProvisioningStatus.PROVISIONED),
        ChangeFact("a", ChangeType.INCREASE, 2, 3, t, ProvisioningStatus.PROVISIONED, error="retried by hand"),
        ChangeFact("b", ChangeType.INCREASE, 1, 2, t, ProvisioningStatus.PROVISIONED),  # manual provider
        ChangeFact("a", ChangeType.INCREASE, 3, 4, t, ProvisioningStatus.FAILED, error="x"),
        ChangeFact("a", ChangeType.INCREASE, 3, 4, t, ProvisioningStatus.AWAITING),  # not finished
    ]
    r = compute(as_of=AS_OF, subscriptions=subs(), changes=changes, invoices=[])
    assert (r.changes_touchless, r.changes_finished, r.touchless_pct) == (1, 4, D("25.0"))


def test_leakage_values_unbilled_seats_at_monthly_price():
    rows = [SeatBillingFact("a", 12, 10), SeatBillingFact("b", 5, 5), SeatBillingFact("b", 4, 6)]
    r = compute(as_of=AS_OF, subscriptions=subs(), changes=[], invoices=[], seat_billing=rows)
    assert r.currencies["USD"].leaked_seats == 2
    assert r.currencies["USD"].leakage_mrr == D("24.00")
    assert r.leaked_seats == 2


def test_zero_currency_minor_units_and_empty_data():
    r = compute(as_of=AS_OF, subscriptions=[SubscriptionFact("j", "JPY", 3, D("1000.4"), D("0"), "P1M")],
                changes=[], invoices=[])
    assert r.currencies["JPY"].mrr == D("3001")
    empty = compute(as_of=AS_OF, subscriptions=[], changes=[], invoices=[])
    assert empty.currencies == {} and empty.touchless_pct is None and empty.primary_currency() is None


def test_snapshot_json_compare_and_series():
    old = compute(as_of=date(2026, 10, 25), subscriptions=subs()[:1], changes=[], invoices=[]).to_json()
    new = compute(as_of=AS_OF, subscriptions=subs(), changes=[], invoices=[]).to_json()
    assert new["currencies"]["USD"]["mrr"] == "170.00"
    deltas = compare(new, old)
    assert deltas["USD"]["mrr"] == D("50.00")
    assert deltas["USD"]["seats"] == D("5")
    assert "EUR" not in deltas  # nothing to compare with
    assert compare(new, None) == {}
    assert series([new, old], "USD") == [("2026-10-25", D("120.00")), ("2026-11-25", D("170.00"))]


def test_recon_leakage_sums_provider_cost_and_seats_per_currency():
    from billing.kpis import ReconLeakFact

    leaks = [ReconLeakFact("USD", D("120.50"), D("5")), ReconLeakFact("USD", D("10.00"), None),
             ReconLeakFact("EUR", D("7.25"), D("1"))]
    r = compute(as_of=AS_OF, subscriptions=[], changes=[], invoices=[], recon_leaks=leaks)
    assert (r.currencies["USD"].recon_unbilled_cost, r.currencies["USD"].recon_unbilled_seats) == (D("130.50"), 5)
    assert r.currencies["EUR"].recon_unbilled_cost == D("7.25")


def test_percentages_never_show_negative_zero():
    from decimal import Decimal

    from billing.kpis import _pct

    assert str(_pct(Decimal("-0.0001"), Decimal(100))) == "0.0"
    assert _pct(Decimal(-5), Decimal(100)) == Decimal("-5.0")


def test_recon_findings_of_every_money_kind_per_currency_and_per_customer():
    """Cost missing, unmapped tenants and usage revised after billing count next to the leaks, and the
    customers with the most money at risk come first within each currency."""
    from billing.kpis import ReconLeakFact
    from portal import assessment

    facts = [ReconLeakFact("USD", D("50.00"), D("2"), customer="Contoso"),
             ReconLeakFact("USD", D("342.20"), kind="billed_to_customer_no_provider_line", customer="Coho"),
             ReconLeakFact("NOK", D("9000"), kind="unmapped_tenant", customer="Fabrikam"),
             ReconLeakFact("USD", D("-39.56"), kind="usage_revised_after_billing", customer="Contoso"),
             ReconLeakFact("USD", D("12.00"), kind="usage_revised_after_billing", customer="Litware"),
             ReconLeakFact("USD", D("0"), kind="quantity_mismatch", customer="Adatum"),
             ReconLeakFact("", D("0"), kind="mapped_tenant_no_provider_lines", customer="Humongous")]
    r = compute(as_of=AS_OF, subscriptions=[], changes=[], invoices=[], recon_leaks=facts)
    usd = r.currencies["USD"]
    assert (usd.recon_unbilled_cost, usd.recon_cost_missing, usd.recon_usage_revised) == (
        D("50.00"), D("342.20"), D("-27.56"))
    assert r.currencies["NOK"].recon_unmapped_cost == D("9000.00") and "" not in r.currencies
    # Ranked within each currency (never NOK against USD).
    assert [(c.customer, c.currency) for c in r.recon_customers] == [
        ("Fabrikam", "NOK"), ("Coho", "USD"), ("Contoso", "USD"), ("Litware", "USD"), ("Adatum", "USD")]
    contoso = r.recon_customers[2]
    assert (contoso.leaked_cost, contoso.usage_revised) == (D("50.00"), D("-39.56"))
    html = assessment.to_html(assessment.run(assessment.InMemorySource(assessment.Facts(recon_leaks=facts)),
                                             as_of=AS_OF, store=False))
    assert 'id="kpi-recon-customers"' in html and "Fabrikam" in html and "None" not in html
    assert "-$39.56" in html and "Usage revised after billing, net (recon)" in html
