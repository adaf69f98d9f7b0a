"""Subscription sync comparison rules (no I/O): a commitment end moving forward by a term is a
renewal keyed like billing's; a first-time fill or a correction is not; order statuses map to
Pending until the provider says Active."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from dataverse.catalog_repo import PriceItem
from dataverse.stores._rows import KEEP
from dataverse.stores.change_logs import sync_log_row
from dataverse.stores.subscriptions import SubscriptionUpdate, SyncedSubscription, WantedSubscription
from sync.provisioning import STATUS_ACTIVE, STATUS_PENDING, status_after_order
from sync.subscription_sync import PriceList, _compare, is_renewal, renewal_change_key

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
KEY = "CSP USD|PROD1:0001|P1M monthly"


class NoPending:
    """Quantity and status are equal in these cases, so nothing asks for pending change logs."""

    def explains(self, *args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("no pending lookup expected")


def _day(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text[:10]).replace(tzinfo=UTC) if text else None


def _have(end: str | None, price: str = "10.00") -> SyncedSubscription:
    return SyncedSubscription(
        id="local-1", provider_subscription_id="PSID-1", provider_account_id="pa-1", quantity=5, status=1,
        term="P1M", billing_frequency="P1M", commitment_end=_day(end), auto_renew=True, product_id="PROD1",
        sku_id="0001", drift_flag=False, kind=1, needs_transition=False, unit_price=Decimal(price), currency="USD")


def _want(end: str | None, *, auto_renew: bool | None = True) -> WantedSubscription:
    return WantedSubscription(
        provider_subscription_id="PSID-1", provider=1, provider_account_id="pa-1", product_id="PROD1",
        sku_id="0001", availability_id=None, quantity=5, status=1, term="P1M", billing_frequency="P1M",
        start_date=None, commitment_end=_day(end), auto_renew=auto_renew, unit_cost=None, currency="USD",
        order_id=None)


def _compare_with(have: SyncedSubscription, want: WantedSubscription, price: str | None = "12.50"):
    prices = PriceList(None, {KEY: PriceItem(Decimal(price), None)} if price is not None else {})
    return _compare(have, want, "run-1", NOW, NoPending(), prices)  # type: ignore[arg-type]


def test_first_time_fill_is_not_a_renewal() -> None:
    update, logs, notes = _compare_with(_have(None), _want("2026-12-31"))
    assert update == SubscriptionUpdate("PSID-1", commitment_end=datetime(2026, 12, 31, tzinfo=UTC))
    assert logs == [] and notes == []


def test_commitment_end_moving_on_by_a_term_is_a_renewal_at_the_new_list_price() -> None:
    update, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-12-30"))
    assert update.unit_price == Decimal("12.50")
    [log] = logs
    assert log.key == "PSID-1|renew|2026-12-01" == renewal_change_key("PSID-1", date(2026, 12, 1))
    assert log.change_type == 6 and log.origin == 4 and log.subscription_id == "local-1"
    assert log.effective == datetime(2026, 12, 1, tzinfo=UTC)
    assert log.old_price == Decimal("10.00") and log.new_price == Decimal("12.50")
    assert log.old_quantity == log.new_quantity == 5 and log.is_drift is False
    # As written: NotApplicable (nothing to provision), bound to the subscription's row.
    row = sync_log_row(log, "/cspb_subscriptions(local-1)")
    assert row["cspb_provisioningstatus"] == 4 and row["cspb_effectivedate"] == "2026-12-01T00:00:00Z"
    assert row["cspb_oldprice"] == Decimal("10.00") and row["cspb_newprice"] == Decimal("12.50")
    assert "cspb_error" not in row  # a renewal billing wrote first keeps its error column


def test_renewal_at_an_unchanged_or_unknown_price_keeps_the_price() -> None:
    for price in ("10.00", None):
        update, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-12-30"), price)
        assert update.unit_price is None
        assert [log.change_type for log in logs] == [6] and logs[0].new_price is KEEP
        assert "cspb_newprice" not in sync_log_row(logs[0], "/cspb_subscriptions(local-1)")


def test_corrections_and_cancellations_are_not_renewals() -> None:
    for new_end in ("2026-12-01", "2026-11-20"):  # one day on (a correction), back (a cancel ends the term)
        update, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want(new_end))
        assert update.commitment_end == _day(new_end) and logs == []
    assert is_renewal(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert not is_renewal(datetime(2026, 2, 1, tzinfo=UTC), None)


def test_auto_renew_switched_off_at_the_provider_is_logged_but_is_no_renewal() -> None:
    update, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-11-30", auto_renew=False))
    assert update == SubscriptionUpdate("PSID-1", auto_renew=False)
    [log] = logs
    assert log.change_type == 7 and "auto-renew on -> off" in str(log.error)


def test_an_unchanged_subscription_changes_nothing() -> None:
    update, logs, notes = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-11-30"))
    assert not update.changes_anything() and logs == [] and notes == []


def test_order_statuses_pending_until_the_provider_says_active() -> None:
    for label in ("PendingManual", "PendingAutomated", "WaitingForDetails", "Pending", "pending"):
        assert status_after_order(label) == STATUS_PENDING, label
    assert status_after_order("Active") == STATUS_ACTIVE
    assert status_after_order("Provisioned") is None and status_after_order("") is None
