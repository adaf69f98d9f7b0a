"""Currency-aware margin, the provider invoice checksum and the per-period share of an annual charge."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

from billing.models import (
    ExchangeRate,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    Subscription,
    SubscriptionKind,
)
from recon.invoice_file import ProviderLine
from recon.reconcile import (
    FindingKind,
    ProviderInvoiceTotal,
    TenantAccount,
    month_rates,
    period_share,
    reconcile,
)


def line(sub: str, subtotal: str, currency: str, *, pricing: str = "", rate: str = "", start=date(2026, 11, 1),
         end=date(2026, 11, 30)) -> ProviderLine:
    return ProviderLine(1, "t1", "Contoso", "G1", sub, "P1", "0001", "Microsoft 365 E3", "E3", "cycleCharge", D(10),
                        D(1), D(subtotal), D(subtotal), currency, start, end, pricing,
                        D(rate) if rate else None, date(2026, 11, 1) if rate else None, "Microsoft 365")


def test_cost_in_gbp_is_compared_with_usd_revenue_after_conversion():
    subs = [Subscription(provider_subscription_id="s1", quantity=10, unit_price=D(15), id="d1", kind=SubscriptionKind.LICENSE,
                         currency="USD")]
    inv = Invoice(key="i", contract_number="C1", kind=next(iter(InvoiceKind)), contract_id="c", account_id="a1",
                  currency="USD", period_start=date(2026, 11, 1), period_end=date(2026, 11, 30),
                  invoice_date=date(2026, 11, 2), lines=(InvoiceLine(
                      key="l", line_type=LineType.LICENSE, description="E3", quantity=D(10), unit_price=D(15),
                      base_amount=D(150), discount=D(0), tax=D(0), subscription_id="d1",
                      period_start=date(2026, 11, 1), period_end=date(2026, 11, 30)),))
    rates = month_rates([], [ExchangeRate("2026-11", "USD", "GBP", D("0.8"))])
    result = reconcile(provider_lines=[line("s1", "96.00", "GBP")], usage=[], subscriptions=subs, invoices=[inv],
                       tenants=[TenantAccount("t1", "a1", "Contoso")], period="2026-11", rates=rates)
    assert result.findings == []
    [row] = result.margin
    assert (row.currency, row.revenue, row.cost, row.margin_pct) == ("USD", D(150), D(120), D("20.00"))
    assert row.provider_cost == (("GBP", D("96.00")),)  # Microsoft's currency shown alongside


def test_the_lines_own_rate_converts_back_to_the_pricing_currency():
    rates = month_rates([line("s1", "79.12", "GBP", pricing="USD", rate="0.7912")])
    assert rates.rate("USD", "GBP", "2026-11") == D("0.7912")


def test_no_rate_is_a_finding_not_a_wrong_number():
    subs = [Subscription(provider_subscription_id="s1", quantity=10, unit_price=D(15), id="d1", currency="USD")]
    result = reconcile(provider_lines=[line("s1", "96.00", "NOK")], usage=[], subscriptions=subs, invoices=[],
                       tenants=[TenantAccount("t1", "a1", "Contoso")], period="2026-11")
    assert [f.kind for f in result.findings if f.kind == FindingKind.NO_EXCHANGE_RATE] == [FindingKind.NO_EXCHANGE_RATE]
    assert result.margin[0].currency == "NOK"  # left in its own currency, labelled as such


def test_invoice_total_checksum_within_tolerance():
    ok = ProviderInvoiceTotal("G1", "USD", D("100.00"), D("99.996"))
    off = ProviderInvoiceTotal("G2", "EUR", D("100.00"), D("90.00"))
    result = reconcile(provider_lines=[], usage=[], subscriptions=[], invoices=[], tenants=[],
                       provider_invoices=[ok, off], tolerance=D("0.05"))
    assert [(f.kind, f.currency, f.amount) for f in result.findings] == [
        (FindingKind.INVOICE_TOTAL_MISMATCH, "EUR", D("10.00"))]


def test_an_annual_charge_counts_one_month():
    annual = line("s1", "365.00", "USD", start=date(2026, 11, 15), end=date(2027, 11, 14))
    assert period_share(annual, (date(2026, 11, 1), date(2026, 11, 30))) == D(30)
    monthly = line("s1", "31.00", "USD", start=date(2026, 11, 15), end=date(2026, 12, 14))
    assert period_share(monthly, (date(2026, 11, 1), date(2026, 11, 30))) == D("31.00")


def test_a_purchase_mid_month_counts_only_its_days_in_the_month():
    """The customer is billed from the purchase day, so Microsoft's charge counts from that day too:
    a full month's share against half a month's revenue showed a loss on every new subscription."""
    from dataclasses import replace

    november = (date(2026, 11, 1), date(2026, 11, 30))
    annual = replace(line("s1", "365.00", "USD", start=date(2026, 11, 17), end=date(2027, 11, 16)), charge_type="new")
    assert period_share(annual, november) == D(14)
    monthly = replace(line("s1", "30.00", "USD", start=date(2026, 11, 6), end=date(2026, 12, 5)), charge_type="new")
    assert period_share(monthly, november) == D(25)
    added = replace(monthly, charge_type="addQuantity", subtotal=D("10.00"), charge_start=date(2026, 11, 26))
    assert period_share(added, november) == D("5.00")  # Nov 26-30 of a window to Dec 5
    renewed = replace(annual, charge_type="renew")
    assert period_share(renewed, november) == D(30)  # the term was in force all month
