"""Pure rules: new-commerce windows, provisioning decisions, catalog pricing and diff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing import catalog_pricing as cp
from billing import newcommerce as nc
from billing.provisioning_rules import (
    Action,
    ChangeFacts,
    ChangeType,
    Origin,
    Provider,
    ProvisioningStatus,
    decide,
)

T0 = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_reduction_allowed_inside_window_and_refused_after() -> None:
    inside = nc.check_quantity_change(old_quantity=10, new_quantity=8, start=T0, term="P1Y", now=T0 + timedelta(days=6))
    assert inside.allowed
    after = nc.check_quantity_change(old_quantity=10, new_quantity=8, start=T0, term="P1Y", now=T0 + timedelta(days=8))
    assert not after.allowed and "7 days" in after.reason


def test_window_reopens_after_each_renewal() -> None:
    renewed = T0 + timedelta(days=365 + 2)
    assert nc.in_reduction_window(T0, "P1Y", renewed)
    assert not nc.in_reduction_window(T0, "P1Y", T0 + timedelta(days=200))
    monthly = T0 + timedelta(days=31 + 3)
    assert nc.in_reduction_window(T0, "P1M", monthly)


def test_commitment_end_drives_the_window_when_known() -> None:
    end = datetime(2027, 3, 1, tzinfo=UTC)  # co-termed: the term started 2026-03-01
    assert nc.current_term_start(T0, "P1Y", datetime(2026, 3, 3, tzinfo=UTC), end) == datetime(2026, 3, 1, tzinfo=UTC)


def test_increase_always_allowed_and_zero_refused() -> None:
    late = T0 + timedelta(days=100)
    assert nc.check_quantity_change(old_quantity=1, new_quantity=5, start=T0, term="P1Y", now=late).allowed
    zero = nc.check_quantity_change(old_quantity=5, new_quantity=0, start=T0, term="P1Y", now=T0)
    assert not zero.allowed and "greater than 0" in zero.reason


def test_cancellation_window() -> None:
    assert nc.check_cancellation(start=T0, term="P1M", now=T0 + timedelta(hours=167)).allowed
    assert not nc.check_cancellation(start=T0, term="P1Y", now=T0 + timedelta(hours=169)).allowed


def _facts(**overrides) -> ChangeFacts:
    base = dict(change_type=ChangeType.DECREASE, provisioning_status=ProvisioningStatus.AWAITING, origin=Origin.SALES_REP,
                provider=Provider.PARTNER_CENTER, old_quantity=10, new_quantity=8, term="P1Y", start=T0,
                commitment_end=None, provider_subscription_id="sub-1", mca_attested=True)
    base.update(overrides)
    return ChangeFacts(**base)


@pytest.mark.parametrize(("overrides", "now", "action"), [
    ({}, T0 + timedelta(days=1), Action.SET_QUANTITY),
    ({}, T0 + timedelta(days=30), Action.REFUSE),
    ({"change_type": ChangeType.INCREASE, "new_quantity": 12}, T0 + timedelta(days=30), Action.SET_QUANTITY),
    ({"change_type": ChangeType.NEW, "provider_subscription_id": None}, T0, Action.ORDER),
    ({"change_type": ChangeType.NEW, "mca_attested": False}, T0, Action.REFUSE),
    ({"change_type": ChangeType.NEW, "mca_attested": False, "provider": Provider.PAX8}, T0, Action.ORDER),
    ({"change_type": ChangeType.CANCEL}, T0 + timedelta(days=2), Action.CANCEL),
    ({"provisioning_status": ProvisioningStatus.PROVISIONED}, T0, Action.ALREADY_DONE),
    ({"origin": Origin.PROVIDER_SYNC}, T0, Action.NOT_APPLICABLE),
    ({"provider": Provider.MANUAL}, T0, Action.NOT_APPLICABLE),
    ({"change_type": ChangeType.PRICE_CHANGE}, T0, Action.NOT_APPLICABLE),
    ({"provider_subscription_id": None}, T0, Action.FAIL),
    ({"account_mapped": False}, T0, Action.FAIL),
])
def test_decide(overrides, now, action) -> None:
    assert decide(_facts(**overrides), now).action is action


def test_mca_refusal_reason_is_plain() -> None:
    plan = decide(_facts(change_type=ChangeType.NEW, mca_attested=False), T0)
    assert "Microsoft Customer Agreement" in plan.reason


SHEET = [
    {"ProductId": "CFQ7TTC0LH18", "SkuId": "0001", "ProductTitle": "Microsoft 365 Business Basic", "SkuTitle": "",
     "TermDuration": "P1Y", "BillingPlan": "Annual", "Currency": "USD", "UnitPrice": "72.00"},
    {"ProductId": "CFQ7TTC0LH18", "SkuId": "0001", "ProductTitle": "Microsoft 365 Business Basic", "SkuTitle": "",
     "TermDuration": "P1Y", "BillingPlan": "Monthly", "Currency": "USD", "UnitPrice": "6.30"},
    {"ProductId": "CFQ7TTC0LH18", "SkuId": "0001", "ProductTitle": "Microsoft 365 Business Basic", "SkuTitle": "",
     "TermDuration": "P1Y", "BillingPlan": "Monthly", "Currency": "EUR", "UnitPrice": "5.90"},
]


def test_markup_rules_family_beats_default_and_fixed_price_wins() -> None:
    rules = [cp.MarkupRule("default", "", Decimal("10"), None, None),
             cp.MarkupRule("m365", "Microsoft 365", Decimal("20"), None, None),
             cp.MarkupRule("fixed", "Microsoft 365", None, Decimal("7.99"), "EUR")]
    rows = [cp.parse_sheet_row(r) for r in SHEET]
    wanted, sources = cp.desired_prices(rows, ["USD", "EUR", "JPY", "XOF"], rules)
    by_key = {w.key: w for w in wanted}
    assert by_key["CSP USD|CFQ7TTC0LH18:0001|P1Y annual"].amount == Decimal("86.40")
    assert by_key["CSP EUR|CFQ7TTC0LH18:0001|P1Y monthly"].amount == Decimal("7.99")
    assert sources == {"USD": "USD", "EUR": "EUR", "JPY": "USD", "XOF": "USD"}
    assert cp.pricing_currency("XOF") == "USD" and cp.pricing_currency("eur") == "EUR"
    assert all(isinstance(w.amount, Decimal) for w in wanted)


def test_diff_creates_then_tags_changes_for_review_and_is_quiet_when_equal() -> None:
    rows = [cp.parse_sheet_row(SHEET[0])]
    wanted, _ = cp.desired_prices(rows, ["USD"], [])
    first = cp.diff_prices(wanted, {})
    assert len(first.create) == 1 and not first.review
    key = wanted[0].key
    same = cp.diff_prices(wanted, {key: cp.ExistingPrice(key, Decimal("72.00"), Decimal("72.00"))})
    assert same.unchanged == 1 and not same.create and not same.review and not same.cost_only
    moved = cp.diff_prices(wanted, {key: cp.ExistingPrice(key, Decimal("70.00"), Decimal("70.00"))})
    assert len(moved.review) == 1
    pending = cp.diff_prices(wanted, {key: cp.ExistingPrice(key, Decimal("70.00"), Decimal("70.00"), Decimal("72.00"))})
    assert pending.unchanged == 1 and not pending.review


def test_jpy_prices_have_no_minor_unit() -> None:
    row = cp.parse_sheet_row({**SHEET[0], "Currency": "JPY", "UnitPrice": "1234.5"})
    wanted, _ = cp.desired_prices([row], ["JPY"], [cp.MarkupRule("d", "", Decimal("10"), None, None)])
    assert wanted[0].amount == Decimal("1358")
