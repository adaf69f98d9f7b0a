"""Subscription sync comparison rules (no I/O): a commitment end moving forward by a term is a
renewal keyed like billing's; a first-time fill or a correction is not; order statuses map to
Pending until the provider says Active."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from sync.provisioning import STATUS_ACTIVE, STATUS_PENDING, status_after_order
from sync.subscription_sync import PriceList, _compare, is_renewal, renewal_change_key

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
KEY = "CSP USD|PROD1:0001|P1M monthly"


class NoPending:
    """Quantity and status are equal in these cases, so nothing asks for pending change logs."""

    def explains(self, *args, **kwargs):  # pragma: no cover - must not be reached
        raise AssertionError("no pending lookup expected")


def _have(end: str | None, price: str = "10.00") -> dict:
    return {"cspb_subscriptionid": "local-1", "cspb_quantity": 5, "cspb_status": 1, "cspb_term": "P1M",
            "cspb_billingfrequency": "P1M", "cspb_commitmentenddate": end, "cspb_autorenew": True,
            "cspb_unitprice": price, "cspb_currencycode": "USD", "cspb_productid": "PROD1", "cspb_skuid": "0001"}


def _want(end: str | None) -> dict:
    return {"cspb_quantity": 5, "cspb_status": 1, "cspb_term": "P1M", "cspb_billingfrequency": "P1M",
            "cspb_commitmentenddate": end, "cspb_autorenew": True, "cspb_productid": "PROD1", "cspb_skuid": "0001"}


def _compare_with(have: dict, want: dict, price: str | None = "12.50"):
    prices = PriceList(None, {KEY: (price, None)} if price is not None else {})
    return _compare(have, want, "PSID-1", "run-1", NOW, NoPending(), prices)  # type: ignore[arg-type]


def test_first_time_fill_is_not_a_renewal() -> None:
    changes, logs, notes = _compare_with(_have(None), _want("2026-12-31"))
    assert changes == {"cspb_commitmentenddate": "2026-12-31"}
    assert logs == [] and notes == []


def test_commitment_end_moving_on_by_a_term_is_a_renewal_at_the_new_list_price() -> None:
    changes, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-12-30"))
    assert changes["cspb_unitprice"] == Decimal("12.50")
    [log] = logs
    assert log["cspb_changekey"] == "PSID-1|renew|2026-12-01" == renewal_change_key("PSID-1", date(2026, 12, 1))
    assert log["cspb_changetype"] == 6 and log["cspb_origin"] == 4 and log["cspb_provisioningstatus"] == 4
    assert log["cspb_effectivedate"] == "2026-12-01T00:00:00Z"
    assert log["cspb_oldprice"] == Decimal("10.00") and log["cspb_newprice"] == Decimal("12.50")
    assert log["cspb_oldquantity"] == log["cspb_newquantity"] == 5 and log["cspb_isdrift"] is False


def test_renewal_at_an_unchanged_or_unknown_price_keeps_the_price() -> None:
    for price in ("10.00", None):
        changes, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want("2026-12-30"), price)
        assert "cspb_unitprice" not in changes
        assert [log["cspb_changetype"] for log in logs] == [6] and "cspb_newprice" not in logs[0]


def test_corrections_and_cancellations_are_not_renewals() -> None:
    for new_end in ("2026-12-01", "2026-11-20"):  # one day on (a correction), back (a cancel ends the term)
        changes, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), _want(new_end))
        assert "cspb_commitmentenddate" in changes and logs == []
    assert is_renewal(datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert not is_renewal(datetime(2026, 2, 1, tzinfo=UTC), None)


def test_auto_renew_switched_off_at_the_provider_is_logged_but_is_no_renewal() -> None:
    want = {**_want("2026-11-30"), "cspb_autorenew": False}
    changes, logs, _ = _compare_with(_have("2026-11-30T00:00:00Z"), want)
    assert changes == {"cspb_autorenew": False}
    [log] = logs
    assert log["cspb_changetype"] == 7 and "auto-renew on -> off" in log["cspb_error"]


def test_order_statuses_pending_until_the_provider_says_active() -> None:
    for label in ("PendingManual", "PendingAutomated", "WaitingForDetails", "Pending", "pending"):
        assert status_after_order(label) == STATUS_PENDING, label
    assert status_after_order("Active") == STATUS_ACTIVE
    assert status_after_order("Provisioned") is None and status_after_order("") is None
