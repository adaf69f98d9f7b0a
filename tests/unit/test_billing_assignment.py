"""Default contracts for synced subscriptions, onboarding change logs, renewals at term end, and
the exchange rate an invoice records."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from billing.contract_assignment import (
    ContractKind,
    MappedAccount,
    billing_begins,
    contract_kind,
    contract_number,
    onboarding_logs,
    plan_assignments,
    subscription_price_key,
)
from billing.currency import RateTable
from billing.models import (
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    ExchangeRate,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    Policy,
    SubscriptionKind,
    SubscriptionStatus,
    invoice_number,
)
from billing.renewals import renewals_due
from dataverse.billing_repo import invoice_exchange_rate
from tests.plugins.billing import make_contract, make_sub

ON = date(2026, 11, 2)
NORTHWIND = MappedAccount("pa-1", "acc-1", "Northwind", country="DE")
CONTOSO = MappedAccount("pa-2", "acc-2", "Contoso", country="CA")
E3_KEY = "CSP EUR|CFQ7TTC0LFLX:0001|P1Y monthly"


def synced(psid: str = "PS-1", **kw):  # type: ignore[no-untyped-def]
    values = dict(provider_subscription_id=psid, id=f"id-{psid}", contract_id=None, unit_price=D(0),
                  provider_account_id="pa-1", provider_product_id="CFQ7TTC0LFLX", sku_id="0001", term="P1Y",
                  billing_frequency="P1M", quantity=10, start_date=date(2025, 3, 14))
    values.update(kw)
    return make_sub(**values)


def test_kinds_and_numbers() -> None:
    assert contract_kind(synced()) is ContractKind.LICENSES
    assert contract_kind(synced(kind=SubscriptionKind.ONE_TIME)) is ContractKind.LICENSES
    for kind in (SubscriptionKind.AZURE_PLAN, SubscriptionKind.AZURE_ENTITLEMENT, SubscriptionKind.MARKETPLACE,
                 SubscriptionKind.LEGACY_AZURE):
        assert contract_kind(synced(kind=kind)) is ContractKind.USAGE
    number = contract_number("ACC-1", "usd", ContractKind.LICENSES)
    assert number == contract_number("acc-1", "USD", ContractKind.LICENSES)
    assert number != contract_number("acc-1", "USD", ContractKind.USAGE)
    assert number != contract_number("acc-1", "EUR", ContractKind.LICENSES)
    # The invoice number stays the readable contract-YYMMDD form (QuickBooks' 20-character cap).
    assert invoice_number(f"{number}|2026-11-01|cycle") == f"{number}-261101"
    assert subscription_price_key(synced(), "EUR") == E3_KEY
    assert subscription_price_key(synced(billing_frequency="P1Y"), "USD") == "CSP USD|CFQ7TTC0LFLX:0001|P1Y annual"


def test_licenses_priced_from_the_price_list_usage_in_arrears() -> None:
    subs = [synced("PS-1"), synced("PS-2", start_date=date(2024, 7, 20), unit_price=D("30.00"), currency="EUR"),
            synced("AZ", kind=SubscriptionKind.AZURE_PLAN, provider_product_id="DZH318Z0BPS6", start_date=date(2026, 1, 17))]
    plan = plan_assignments([NORTHWIND], subs, [], {E3_KEY: D("34.20")}, {"EUR", "USD"}, on_date=ON)
    assert plan.unassigned == [] and plan.used_contracts == []
    by_kind = {c.policy: c for c in plan.new_contracts}
    licenses, usage = by_kind[Policy.ADVANCE], by_kind[Policy.ARREARS]
    assert licenses.number == contract_number("acc-1", "EUR", ContractKind.LICENSES)
    # History older than the onboarding window is not back-billed: the contract starts where billing
    # begins (this month in advance, last month in arrears), and runs bill every cycle from there.
    assert licenses.start_date == date(2026, 11, 1) and licenses.currency == "EUR" and licenses.account_id == "acc-1"
    assert usage.start_date == date(2026, 10, 1) and usage.currency == "EUR"
    got = {a.subscription.provider_subscription_id: a for a in plan.assignments}
    assert got["PS-1"].subscription.unit_price == D("34.20") and got["PS-1"].price_source == E3_KEY
    assert got["PS-2"].subscription.unit_price == D("30.00") and got["PS-2"].price_source == ""
    assert got["AZ"].contract_number == usage.number and got["AZ"].subscription.unit_price == 0
    assert all(a.subscription.contract_id == a.contract_number for a in plan.assignments)


def test_unknown_currency_falls_back_to_usd_and_unpriced_or_ended_subscriptions_are_not_assigned() -> None:
    usd_key = "CSP USD|CFQ7TTC0LFLX:0001|P1Y monthly"
    subs = [synced("PS-1", provider_account_id="pa-2"),
            synced("PS-2", provider_account_id="pa-2", provider_product_id="UNKNOWN"),
            synced("PS-3", provider_account_id="pa-2", status=SubscriptionStatus.EXPIRED),
            synced("PS-4", provider_account_id="pa-9")]  # an account that is not mapped
    plan = plan_assignments([CONTOSO], subs, [], {usd_key: D("36.00")}, {"USD", "EUR"}, on_date=ON)
    assert [a.subscription.provider_subscription_id for a in plan.assignments] == ["PS-1"]
    assert plan.assignments[0].subscription.currency == "USD"
    assert [(s.provider_subscription_id, "CSP USD" in why) for s, why in plan.unassigned] == [("PS-2", True)]
    assert [s.provider_subscription_id for s in plan.ended] == ["PS-3"]


def test_existing_contract_is_used_and_one_of_another_account_is_never_taken() -> None:
    number = contract_number("acc-1", "EUR", ContractKind.LICENSES)
    mine = make_contract(number=number, account_id="ACC-1", id="c-9", start_date=date(2020, 1, 1), currency="EUR")
    plan = plan_assignments([NORTHWIND], [synced()], [mine], {E3_KEY: D("34.20")}, {"EUR"}, on_date=ON)
    assert plan.new_contracts == [] and plan.used_contracts == [number] and len(plan.assignments) == 1
    theirs = replace(mine, account_id="acc-other")
    plan = plan_assignments([NORTHWIND], [synced()], [theirs], {E3_KEY: D("34.20")}, {"EUR"}, on_date=ON)
    assert plan.assignments == [] and "another account" in plan.unassigned[0][1]


def test_a_new_usage_contract_takes_the_partners_usage_markup_from_its_markup_rules() -> None:
    """Work 365 marks usage up by the subscription's Markup % when consumption is imported: here a new
    Azure and usage contract gets it from the partner's markup rules (the Azure plan's family, else the
    default rule, in the contract's currency); license contracts carry none, and no rule means at cost."""
    from billing.catalog_pricing import MarkupRule

    subs = [synced("PS-1"), synced("AZ", kind=SubscriptionKind.AZURE_PLAN, provider_product_id="DZH318Z0BPS6")]

    def usage_markup(*rules: MarkupRule) -> tuple[D, D]:
        plan = plan_assignments([NORTHWIND], subs, [], {E3_KEY: D("34.20")}, {"EUR"}, on_date=ON,
                                markup_rules=rules)
        by_policy = {c.policy: c.usage_markup_pct for c in plan.new_contracts}
        return by_policy[Policy.ARREARS], by_policy[Policy.ADVANCE]

    default = MarkupRule("default", "", D("15"), None, None)
    assert usage_markup(default) == (D("15"), D("0"))
    assert usage_markup() == (D("0"), D("0"))
    azure = MarkupRule("azure", "Azure plan", D("8"), None, None)
    fixed = MarkupRule("azure-fixed", "Azure plan", None, D("5.00"), None)  # a unit's price: never usage's
    dollars = MarkupRule("azure-usd", "Azure plan", D("30"), None, "USD")  # another currency's
    assert usage_markup(default, azure, fixed, dollars) == (D("8"), D("0"))
    assert usage_markup(default, fixed) == (D("15"), D("0"))
    # An existing contract keeps its own markup: only a new one is given the partner's.
    usage = plan_assignments([NORTHWIND], subs[1:], [], {}, {"EUR"}, on_date=ON).new_contracts[0]
    again = plan_assignments([NORTHWIND], subs[1:], [usage], {}, {"EUR"}, on_date=ON, markup_rules=[default])
    assert again.new_contracts == [] and again.used_contracts == [usage.number]


@given(st.lists(st.sampled_from(["PS-1", "PS-2", "PS-3", "AZ"]), unique=True))
def test_assigning_is_deterministic_and_assigned_subscriptions_are_left_alone(names: list[str]) -> None:
    subs = [synced(n, kind=SubscriptionKind.AZURE_PLAN if n == "AZ" else SubscriptionKind.LICENSE) for n in names]
    prices = {E3_KEY: D("34.20")}
    first = plan_assignments([NORTHWIND], subs, [], prices, {"EUR"}, on_date=ON)
    assert first == plan_assignments([NORTHWIND], list(reversed(subs)), [], prices, {"EUR"}, on_date=ON)
    after = [a.subscription for a in first.assignments]
    again = plan_assignments([NORTHWIND], after, first.new_contracts, prices, {"EUR"}, on_date=ON)
    assert again.assignments == [] and again.new_contracts == []


def discovery(sub_id: str, day: date = date(2026, 11, 1), **kw) -> ChangeLog:  # type: ignore[no-untyped-def]
    values = dict(change_key=f"sync|run|{sub_id}|1", subscription_id=sub_id, change_type=ChangeType.NEW,
                  effective_date=day, new_quantity=10, origin=ChangeOrigin.PROVIDER_SYNC)
    values.update(kw)
    return ChangeLog(**values)  # type: ignore[arg-type]


def test_onboarding_logs_move_to_the_start_and_history_is_archived() -> None:
    contract = make_contract(number="L1", id="c-1", start_date=date(2024, 7, 1), currency="EUR")
    assert billing_begins(contract, ON) == date(2026, 11, 1)
    old = replace(synced("OLD"), contract_id="L1")
    new = replace(synced("NEW", start_date=date(2026, 11, 20)), contract_id="L1")
    ordered = replace(synced("ORD", start_date=date(2026, 11, 20)), contract_id="L1")
    logs = [discovery("id-OLD"), discovery("id-NEW"),
            discovery("id-ORD", origin=ChangeOrigin.SALES_REP), discovery("id-X")]
    fixed = {c.subscription_id: c for c in onboarding_logs(logs, [old, new, ordered], {"L1": contract}, ON)}
    assert set(fixed) == {"id-OLD", "id-NEW"}
    assert fixed["id-OLD"].effective_date == date(2025, 3, 14) and fixed["id-OLD"].archived
    assert fixed["id-NEW"].effective_date == date(2026, 11, 20) and not fixed["id-NEW"].archived


def test_renewal_takes_the_new_price_and_a_term_without_renewal_expires() -> None:
    renew = synced("R", contract_id="c-1", unit_price=D("30.00"), currency="EUR", commitment_end_date=date(2026, 11, 16),
                   term="P1M")
    renew_key = subscription_price_key(renew, "EUR") or ""
    stop = synced("S", contract_id="c-1", unit_price=D("30.00"), currency="EUR", commitment_end_date=date(2026, 11, 19),
                  auto_renew=False)
    running = synced("K", contract_id="c-1", commitment_end_date=date(2027, 3, 1))
    due = renewals_due([renew, stop, running], date(2026, 12, 2), {renew_key: D("32.00")})
    by = {r.subscription.provider_subscription_id: r for r in due}
    assert set(by) == {"R", "S"}
    r = by["R"]
    assert r.log.change_type is ChangeType.RENEW and r.log.change_key == "R|renew|2026-11-17"
    assert (r.log.old_price, r.log.new_price, r.subscription.unit_price) == (D("30.00"), D("32.00"), D("32.00"))
    assert r.subscription.commitment_end_date == date(2026, 12, 16) and r.log.origin is ChangeOrigin.RENEWAL
    s = by["S"]
    assert s.log.change_type is ChangeType.CANCEL and s.log.change_key == "S|cancel|2026-11-20"
    assert s.subscription.status is SubscriptionStatus.EXPIRED and s.log.new_quantity == s.log.old_quantity == 10
    # Same price: a Renew log without prices; and once written, nothing is due any more.
    same = renewals_due([renew], date(2026, 12, 2), {renew_key: D("30.00")})
    assert same[0].log.new_price is None and same[0].subscription.unit_price == D("30.00")
    assert renewals_due([r.subscription for r in due], date(2026, 12, 2), {renew_key: D("32.00")}) == []


def _invoice(*lines: InvoiceLine, currency: str = "EUR") -> Invoice:
    return Invoice(key="C|2026-11-01|cycle", contract_number="C", kind=InvoiceKind.CYCLE,
                   period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), invoice_date=date(2026, 11, 2),
                   currency=currency, lines=lines)


def _line(key: str, sub: str | None = None, usage: tuple[str, ...] = ()) -> InvoiceLine:
    return InvoiceLine(key=key, line_type=LineType.LICENSE, description="", quantity=D(1), unit_price=D(1),
                       base_amount=D(1), discount=D(0), tax=D(0), period_start=date(2026, 11, 1),
                       subscription_id=sub, usage_summary_keys=usage)


def test_invoice_records_the_rate_its_lines_used() -> None:
    rates = RateTable([ExchangeRate("2026-11", "USD", "EUR", D("0.91")), ExchangeRate("2026-10", "USD", "EUR", D("0.93")),
                       ExchangeRate("*", "GBP", "EUR", D("1.15"))])
    sources = {"s-eur": ("EUR", None), "s-usd": ("USD", None), "u-oct": ("USD", "2026-10"), "s-gbp": ("GBP", None)}
    assert invoice_exchange_rate(_invoice(_line("a", "s-eur")), sources, rates) == 1
    assert invoice_exchange_rate(_invoice(_line("a", "s-eur"), _line("b", "s-usd")), sources, rates) == D("0.91")
    assert invoice_exchange_rate(_invoice(_line("u", usage=("u-oct",))), sources, rates) == D("0.93")
    assert invoice_exchange_rate(_invoice(_line("g", "s-gbp")), sources, rates) == D("1.15")
    assert invoice_exchange_rate(_invoice(_line("a", "s-usd"), _line("g", "s-gbp")), sources, rates) is None
