"""Renewals seen by the subscription sync, against the Partner Center and Dataverse sandboxes: the
sync writes the Renew log under billing's change key and reprices from the renewal; whichever of
the sync and billing's apply_renewals sees a renewal first writes it, the other writes nothing.
A Pax8 order left pending stays Pending, and the next sync's first commitment end is no renewal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D
from types import SimpleNamespace

import pytest

from billing.cycles import add_months
from dataverse.tables import EntitySet
from jobs.contracts import apply_renewals, assign_contracts
from jobs.sync import price_sheet_rows
from sync.catalog_sync import run_catalog_sync
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import renewal_change_key, renewal_price_key, run_subscription_sync

pytestmark = pytest.mark.integration

ASSIGNED = date(2026, 11, 2)
SUB_COLUMNS = ["cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_status", "cspb_kind", "cspb_autorenew",
               "cspb_term", "cspb_billingfrequency", "cspb_commitmentenddate", "cspb_unitprice", "cspb_currencycode",
               "cspb_productid", "cspb_skuid", "cspb_quantity", "_cspb_provideraccount_value"]


@pytest.fixture
def partner(dv, sync_pc, sync_pc_server):
    companies = list(sync_pc.list_companies())
    for company in companies[:3]:
        dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_catalog_sync(dv, price_sheet_rows(sync_pc, ("USD", "EUR")), currencies=("USD", "EUR"), everything=True)
    run_provider_account_sync(dv, {1: sync_pc})
    assert run_subscription_sync(dv, {1: sync_pc})["status"] == "Succeeded"
    assign_contracts(dv, on_date=ASSIGNED)
    return companies


def _monthly_license(dv) -> tuple[dict, dict, date]:
    """An active, auto-renewing monthly license on a contract with a list price; its price list item."""
    for sub in dv.list(EntitySet.SUBSCRIPTIONS, select=[*SUB_COLUMNS, "_cspb_billingcontract_value"],
                       filter="cspb_status eq 1 and cspb_kind eq 1 and cspb_term eq 'P1M' and cspb_autorenew eq true"):
        key = renewal_price_key(SimpleNamespace(product_id=sub.get("cspb_productid"), sku_id=sub.get("cspb_skuid"),
                                                term=sub.get("cspb_term"),
                                                billing_frequency=sub.get("cspb_billingfrequency")),
                                sub.get("cspb_currencycode") or "")
        if not key or not sub.get("cspb_commitmentenddate") or not sub.get("_cspb_billingcontract_value"):
            continue
        items = list(dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["productpricelevelid", "amount"],
                             filter=f"cspb_pricekey eq '{key}'"))
        if items:
            return sub, items[0], date.fromisoformat(sub["cspb_commitmentenddate"][:10])
    raise AssertionError("the sandbox partner has no monthly auto-renewing license with a list price")


def _raise_list_price(dv, item: dict, by: str = "2.00") -> D:
    new_price = D(str(item["amount"])) + D(by)
    dv.update(EntitySet.PRODUCT_PRICE_LEVELS, item["productpricelevelid"], {"amount": new_price})
    return new_price


def _renew_at_partner_center(server, sub: dict, new_end: date) -> None:
    for company in server.app.state.customers:
        state = server.app.state.customer_state(company["id"])
        for remote in state["subscriptions"]:
            if remote["id"] == sub["cspb_providersubscriptionid"]:
                remote["commitmentEndDate"] = f"{new_end.isoformat()}T00:00:00Z"
                server.app.state.save(company["id"])
                return
    raise AssertionError("subscription not found at Partner Center")


def _renew_logs(dv, sub: dict) -> list[dict]:
    return list(dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                        select=["cspb_changekey", "cspb_effectivedate", "cspb_oldprice", "cspb_newprice", "cspb_origin"],
                        filter=f"_cspb_subscription_value eq {sub['cspb_subscriptionid']} and cspb_changetype eq 6"))


def _next_end(end: date) -> date:
    return add_months(end + timedelta(days=1), 1) - timedelta(days=1)


def test_sync_sees_the_renewal_first_and_billing_does_not_write_it_again(dv, sync_pc, sync_pc_server,
                                                                          partner) -> None:
    sub, item, old_end = _monthly_license(dv)
    new_price = _raise_list_price(dv, item)
    new_end = _next_end(old_end)
    _renew_at_partner_center(sync_pc_server, sub, new_end)

    run_subscription_sync(dv, {1: sync_pc})
    [log] = _renew_logs(dv, sub)
    renewed_on = old_end + timedelta(days=1)
    assert log["cspb_changekey"] == renewal_change_key(sub["cspb_providersubscriptionid"], renewed_on)
    assert log["cspb_effectivedate"][:10] == renewed_on.isoformat() and log["cspb_origin"] == 4
    assert D(str(log["cspb_oldprice"])) == D(str(sub["cspb_unitprice"])) and D(str(log["cspb_newprice"])) == new_price
    after = dv.get(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"], select=SUB_COLUMNS)
    assert D(str(after["cspb_unitprice"])) == new_price and after["cspb_commitmentenddate"][:10] == new_end.isoformat()

    # Billing's term-end job after the renewal date: the term already moved on, nothing to renew.
    summary = apply_renewals(dv, on_date=old_end + timedelta(days=2))
    assert not any(k.startswith(sub["cspb_providersubscriptionid"]) for k in summary.change_keys)
    # And the sync again: quiet.
    run_subscription_sync(dv, {1: sync_pc})
    assert len(_renew_logs(dv, sub)) == 1


def test_billing_renews_first_and_the_sync_does_not_write_it_again(dv, sync_pc, sync_pc_server, partner) -> None:
    sub, item, old_end = _monthly_license(dv)
    new_price = _raise_list_price(dv, item)
    summary = apply_renewals(dv, on_date=old_end + timedelta(days=2))
    key = renewal_change_key(sub["cspb_providersubscriptionid"], old_end + timedelta(days=1))
    assert key in summary.change_keys
    billed = dv.get(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"], select=SUB_COLUMNS)
    assert D(str(billed["cspb_unitprice"])) == new_price
    billing_end = date.fromisoformat(billed["cspb_commitmentenddate"][:10])

    # Partner Center renewed to the same date: nothing to write.
    _renew_at_partner_center(sync_pc_server, sub, billing_end)
    run_subscription_sync(dv, {1: sync_pc})
    assert [r["cspb_changekey"] for r in _renew_logs(dv, sub)] == [key]
    # Partner Center's date a day off billing's: a correction of the date, not a second renewal.
    _renew_at_partner_center(sync_pc_server, sub, billing_end + timedelta(days=1))
    run_subscription_sync(dv, {1: sync_pc})
    assert [r["cspb_changekey"] for r in _renew_logs(dv, sub)] == [key]
    after = dv.get(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"], select=SUB_COLUMNS)
    assert after["cspb_commitmentenddate"][:10] == (billing_end + timedelta(days=1)).isoformat()
    assert D(str(after["cspb_unitprice"])) == new_price


class PendingManualOrders:
    """In front of the Pax8 sandbox: subscriptions an order creates wait for Pax8's manual step
    (status PendingManual), as they do for products Pax8 provisions by hand."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        state = self.app.sandbox.state
        before = {s["id"] for s in state["subscriptions"]}
        out = self.app(environ, start_response)
        if environ["REQUEST_METHOD"] == "POST" and environ["PATH_INFO"].rstrip("/").endswith("/orders"):
            for remote in state["subscriptions"]:
                if remote["id"] not in before:
                    remote["status"] = "PendingManual"
        return out


def test_pax8_pending_order_stays_pending_and_the_first_commitment_end_is_no_renewal(dv, pax8_server,
                                                                                     quick_retry) -> None:
    from cli.demo_pax8 import run_pax8_demo
    from distributors.pax8 import Pax8Adapter
    from sandbox._server import RunningServer

    with RunningServer(PendingManualOrders(pax8_server.app), port=0) as server:
        pax8 = Pax8Adapter(server.url, "client", "secret", retry=quick_retry,
                           timeout=5)
        out = run_pax8_demo(dv, pax8=pax8, quantity=3)
        assert out["status"] == "Provisioned", out
        sub_id = out["order"]["subscription"]
        sub = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=SUB_COLUMNS)
        assert sub["cspb_status"] == 5 and not sub["cspb_commitmentenddate"]  # Pending, not Active

        # Pax8 finishes the manual step; the next sync sees Active and the term end for the first time.
        remote = next(s for s in pax8_server.app.sandbox.state["subscriptions"]
                      if s["id"] == out["pax8_subscription_id"])
        remote["status"] = "Active"
        assert (remote.get("commitmentTerm") or {}).get("endDate")
        run_subscription_sync(dv, {2: pax8}, now=datetime.now(UTC))

    after = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=[*SUB_COLUMNS, "cspb_driftdetail"])
    assert after["cspb_status"] == 1 and after["cspb_commitmentenddate"]
    assert "status" not in (after.get("cspb_driftdetail") or "")  # the order completing is not drift
    logs = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_changetype", "cspb_isdrift"],
                        filter=f"_cspb_subscription_value eq {sub_id}"))
    assert not any(log["cspb_changetype"] == 6 for log in logs)
    assert not any(log["cspb_changetype"] == 7 and log["cspb_isdrift"] for log in logs)
