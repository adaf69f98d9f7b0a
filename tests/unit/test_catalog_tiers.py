"""Price sheet rows -> items: tier rows are one item's volume pricing, future rows are scheduled
changes, and billing prices a quantity by its tier."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal as D

import pytest

from billing import catalog_pricing as cp
from shared.errors import ValidationError

TODAY = date(2026, 11, 15)


def row(price: str, *, tmin: str = "", tmax: str = "", start: str = "11/1/2026 12:00:00 AM", end: str = "",
        term: str = "P1Y", plan: str = "Annual", currency: str = "USD") -> dict[str, str]:
    return {"ProductId": "CFQ7TTC0TIER", "SkuId": "0001", "ProductTitle": "Teams Phone Standard", "SkuTitle": "",
            "Publisher": "Microsoft Corporation", "TermDuration": term, "BillingPlan": plan, "Currency": currency,
            "UnitPrice": price, "PricingTierRangeMin": tmin, "PricingTierRangeMax": tmax,
            "EffectiveStartDate": start, "EffectiveEndDate": end}


def plan_of(rows: list[dict[str, str]], rules: list[cp.MarkupRule] | None = None,
            today: date = TODAY) -> cp.PricePlan:
    items = cp.SheetItems()
    for r in rows:
        items.add(cp.parse_sheet_row(r))
    return cp.plan_prices(items, ["USD"], rules or [], today)


def test_tier_rows_are_one_item_with_tier_one_as_list_price_in_any_row_order() -> None:
    rows = [row("90.00", tmin="1001"), row("100.00", tmin="1", tmax="500"), row("95.00", tmin="501", tmax="1000")]
    for order in (rows, rows[::-1]):
        plan = plan_of(order, [cp.MarkupRule("d", "", D("10"), None, None)])
        assert len(plan.wanted) == 1 and not plan.scheduled
        item = plan.wanted[0]
        assert item.cost == D("100.00") and item.amount == D("110.00")
        assert [(t.min, t.max, t.cost, t.amount) for t in item.tiers] == [
            (1, 500, D("100.00"), D("110.00")), (501, 1000, D("95.00"), D("104.50")), (1001, None, D("90.00"), D("99.00"))]
        assert cp.parse_tiers(item.tiers_text) == item.tiers


def test_future_row_is_a_scheduled_change_never_todays_price() -> None:
    plan = plan_of([row("100.00"), row("120.00", start="12/1/2026 12:00:00 AM")])
    assert [w.cost for w in plan.wanted] == [D("100.00")]
    assert len(plan.scheduled) == 1
    ahead = plan.scheduled[0]
    assert ahead.want.effective == date(2026, 12, 1) and ahead.want.cost == D("120.00")
    assert ahead.old_cost == D("100.00") and ahead.key.endswith("|2026-12-01")


def test_an_item_only_announced_ahead_has_no_price_today() -> None:
    plan = plan_of([row("120.00", start="12/1/2026 12:00:00 AM")])
    assert not plan.wanted and plan.not_yet_effective == 1
    assert plan.scheduled[0].old_cost is None


def test_an_ended_period_gives_way_to_the_one_in_force() -> None:
    plan = plan_of([row("100.00", start="1/1/2026 12:00:00 AM", end="10/31/2026 11:59:59 PM"),
                    row("105.00", start="11/1/2026 12:00:00 AM")])
    assert [w.cost for w in plan.wanted] == [D("105.00")]


@pytest.mark.parametrize(("quantity", "price"), [(1, "110.00"), (500, "110.00"), (501, "104.50"), (5000, "99.00"),
                                                 (0, "110.00")])
def test_billing_prices_a_quantity_by_its_tier(quantity: int, price: str) -> None:
    item = plan_of([row("100.00", tmin="1", tmax="500"), row("95.00", tmin="501", tmax="1000"),
                    row("90.00", tmin="1001")], [cp.MarkupRule("d", "", D("10"), None, None)]).wanted[0]
    assert cp.unit_price_for_quantity(item.amount, item.tiers_text, quantity) == D(price)
    assert cp.unit_price_for_quantity(D("7.00"), None, quantity) == D("7.00")


def test_unchanged_sheet_diffs_to_nothing_and_a_due_scheduled_change_applies() -> None:
    plan = plan_of([row("100.00", tmin="1", tmax="500"), row("95.00", tmin="501"),
                    row("120.00", start="12/1/2026 12:00:00 AM")])
    want = plan.wanted[0]
    have = {want.key: cp.ExistingPrice(want.key, want.amount, want.cost, tiers_text=want.tiers_text)}
    sched = plan.scheduled[0]
    changes = {sched.key: cp.ExistingChange(sched.key, cp.CHANGE_PENDING, sched.want.amount, sched.want.cost, True,
                                            sched.want.effective)}
    quiet = cp.diff_prices(plan.wanted, have, changes, plan.scheduled, TODAY)
    assert (quiet.create, quiet.review, quiet.cost_only, quiet.apply, quiet.schedule, quiet.settle) == (
        [], [], [], [], [], [])
    # On 1 December the sheet's current row is the announced one: applied, not reviewed again.
    later = plan_of([row("120.00", start="12/1/2026 12:00:00 AM")], today=date(2026, 12, 1))
    due = cp.diff_prices(later.wanted, have, changes, later.scheduled, date(2026, 12, 1))
    assert len(due.apply) == 1 and due.settle == [sched.key] and not due.review
    rejected = {sched.key: cp.ExistingChange(sched.key, cp.CHANGE_REJECTED, sched.want.amount, sched.want.cost, True,
                                             sched.want.effective)}
    kept = cp.diff_prices(later.wanted, have, rejected, later.scheduled, date(2026, 12, 1))
    assert not kept.apply and [c.amount for c in kept.cost_only] == [want.amount]
    assert [c.cost for c in kept.cost_only] == [D("120.00")]


def test_bad_tier_bounds_and_dates_name_the_column() -> None:
    with pytest.raises(ValidationError, match="PricingTierRangeMin"):
        cp.parse_sheet_row(row("1.00", tmin="one"))
    with pytest.raises(ValidationError, match="EffectiveStartDate"):
        cp.parse_sheet_row(row("1.00", start="soon"))
    assert cp.parse_sheet_date("2026-12-01T00:00:00Z") == date(2026, 12, 1)


def test_margin_change_is_seats_times_cost_moved() -> None:
    assert cp.margin_change(10, D("100.00"), D("120.00"), "USD") == D("-200.00")
    assert cp.margin_change(3, None, D("1"), "JPY") == D(0)


def test_a_new_subscription_on_a_tiered_item_starts_at_its_quantitys_tier() -> None:
    from dataverse.catalog_repo import PriceItem
    from dataverse.stores.subscriptions import WantedSubscription
    from sync.subscription_sync import catalog_price

    item = plan_of([row("100.00", tmin="1", tmax="500", term="P1M", plan="Monthly"),
                    row("95.00", tmin="501", term="P1M", plan="Monthly")]).wanted[0]
    prices = {item.key: PriceItem(item.amount, item.cost, item.tiers_text)}
    want = WantedSubscription(
        provider_subscription_id="s-1", provider=1, provider_account_id="pa-1", product_id="CFQ7TTC0TIER",
        sku_id="0001", availability_id=None, quantity=10, status=1, term="P1M", billing_frequency="P1M",
        start_date=None, commitment_end=None, auto_renew=None, unit_cost=None, currency=None, order_id=None)
    assert catalog_price(prices, want, "USD") == (D("100.00"), D("100.00"), "USD")
    assert catalog_price(prices, replace(want, quantity=600), "USD") == (D("95.00"), D("100.00"), "USD")
    untiered = {item.key: PriceItem(item.amount, item.cost)}
    assert catalog_price(untiered, replace(want, quantity=600), "USD")[0] == D("100.00")


def test_a_renewal_takes_the_tier_of_its_seats() -> None:
    from dataverse.catalog_repo import PriceItem
    from sync.subscription_sync import PriceList

    item = plan_of([row("100.00", tmin="1", tmax="500", term="P1M", plan="Monthly"),
                    row("95.00", tmin="501", term="P1M", plan="Monthly")]).wanted[0]
    prices = PriceList(None, {item.key: PriceItem(item.amount, item.cost, item.tiers_text)})
    assert prices.amount(item.key, 700) == D("95.00") and prices.amount(item.key, 7) == D("100.00")
    assert prices.amount(item.key) == D("100.00") and prices.amount("CSP USD|none|P1M monthly", 3) is None
