"""The catalog sync against the Dataverse sandbox with real-shaped sheets: selection, tiers,
prices announced ahead, reviews with margin impact, the quiet rerun, and the per-market fan-out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from click.testing import CliRunner

from sync.catalog_sync import run_catalog_sync

pytestmark = pytest.mark.integration

NOV, DEC = date(2026, 11, 15), date(2026, 12, 1)


def row(pid: str, price: str, *, sku: str = "0001", title: str = "Teams Phone Standard", tmin: str = "",
        tmax: str = "", start: str = "11/1/2026 12:00:00 AM", term: str = "P1M", plan: str = "Monthly",
        publisher: str = "Microsoft Corporation") -> dict[str, str]:
    return {"ProductId": pid, "SkuId": sku, "ProductTitle": title, "SkuTitle": title, "Publisher": publisher,
            "TermDuration": term, "BillingPlan": plan, "Currency": "USD", "UnitPrice": price,
            "PricingTierRangeMin": tmin, "PricingTierRangeMax": tmax, "EffectiveStartDate": start,
            "EffectiveEndDate": "", "Market": "US"}


SHEET = [
    # tiered: three rows, one item
    row("CFQ7TTC0TIER", "10.00", tmin="1", tmax="500"), row("CFQ7TTC0TIER", "9.00", tmin="501", tmax="1000"),
    row("CFQ7TTC0TIER", "8.00", tmin="1001"),
    # a price announced for 1 December, next to the one in force
    row("CFQ7TTC0MOVE", "20.00", title="Exchange Online (Plan 2)"),
    row("CFQ7TTC0MOVE", "22.00", title="Exchange Online (Plan 2)", start="12/1/2026 12:00:00 AM"),
    # nobody uses it and nobody picked it
    row("CFQ7TTC0IDLE", "5.00", title="Visio Plan 1"),
    row("CFQ7TTC0PUBL", "7.00", title="Contoso Backup", publisher="Contoso Software Ltd"),
]


def subscription(dv, sub_id: str, pid: str, quantity: int, *, price: str | None = None) -> None:
    record = {"cspb_providersubscriptionid": sub_id, "cspb_name": sub_id, "cspb_productid": pid, "cspb_skuid": "0001",
              "cspb_term": "P1M", "cspb_billingfrequency": "P1M", "cspb_quantity": quantity, "cspb_status": 1,
              "cspb_currencycode": "USD", "cspb_kind": 1}
    if price is not None:
        record["cspb_unitprice"] = D(price)
    dv.upsert("cspb_subscriptions", {"cspb_providersubscriptionid": sub_id}, record)


def items(dv) -> dict[str, dict]:
    return {i["cspb_pricekey"]: i for i in dv.list("productpricelevels", select=[
        "cspb_pricekey", "amount", "cspb_cost", "cspb_pricetiers", "cspb_reviewstatus"])}


def test_default_selection_is_in_use_plus_allow_list_and_everything_is_explicit(dv) -> None:
    from dataverse import catalog_repo
    from dataverse.tables import CatalogSelectionKind as K

    subscription(dv, "sub-tier", "CFQ7TTC0TIER", 600)
    catalog_repo.add_selection(dv, catalog_repo.SelectionEntry(K.PUBLISHER, "contoso software ltd"))
    first = run_catalog_sync(dv, SHEET, today=NOV)
    assert sorted(k.split("|")[1] for k in items(dv)) == ["CFQ7TTC0PUBL:0001", "CFQ7TTC0TIER:0001"]
    assert first.run["counts"]["productsNotSelected"] == 2
    everything = run_catalog_sync(dv, SHEET, today=NOV, everything=True)
    assert everything.run["counts"]["pricesCreated"] == 2 and len(items(dv)) == 4
    # the subscription synced before its product was in the catalog starts at its quantity's tier
    sub = dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": "sub-tier"},
                        select=["cspb_unitprice", "cspb_unitcost"])
    assert sub["cspb_unitprice"] == D("9.00") and sub["cspb_unitcost"] == D("10.00")


def test_tiers_are_stored_with_their_ranges_and_tier_one_is_the_price(dv) -> None:
    import json

    run_catalog_sync(dv, SHEET, today=NOV, everything=True)
    item = items(dv)["CSP USD|CFQ7TTC0TIER:0001|P1M monthly"]
    assert item["amount"] == D("10.00") and item["cspb_cost"] == D("10.00")
    assert [(t["min"], t["max"], t["price"]) for t in json.loads(item["cspb_pricetiers"])] == [
        (1, 500, "10.00"), (501, 1000, "9.00"), (1001, None, "8.00")]
    # rows in any order give the same item, and a rerun writes nothing
    again = run_catalog_sync(dv, list(reversed(SHEET)), today=NOV, everything=True)
    assert again.written == {} and again.run["counts"]["pricesForReview"] == 0


def test_a_price_announced_ahead_is_scheduled_with_its_margin_impact_then_applied_on_its_date(dv) -> None:
    subscription(dv, "sub-move", "CFQ7TTC0MOVE", 10, price="25.00")
    first = run_catalog_sync(dv, SHEET, today=NOV)
    key = "CSP USD|CFQ7TTC0MOVE:0001|P1M monthly"
    assert items(dv)[key]["amount"] == D("20.00")  # never the announced price before its date
    assert first.run["counts"]["pricesScheduled"] == 1
    change = dv.get_by_key("cspb_pricechanges", {"cspb_changekey": f"{key}|2026-12-01"}, select=[
        "cspb_oldamount", "cspb_newamount", "cspb_effectivedate", "cspb_status", "cspb_scheduled",
        "cspb_subscriptioncount", "cspb_seats", "cspb_marginimpact", "cspb_name"])
    assert (change["cspb_oldamount"], change["cspb_newamount"], change["cspb_status"]) == (D("20.00"), D("22.00"), 1)
    assert str(change["cspb_effectivedate"]).startswith("2026-12-01") and change["cspb_scheduled"] is True
    assert (change["cspb_subscriptioncount"], change["cspb_seats"], change["cspb_marginimpact"]) == (1, 10, D("-20.00"))
    assert "Exchange Online (Plan 2)" in change["cspb_name"]
    assert run_catalog_sync(dv, SHEET, today=NOV).written == {}  # quiet
    due = run_catalog_sync(dv, SHEET, today=DEC)
    assert items(dv)[key]["amount"] == D("22.00") and due.run["counts"]["pricesApplied"] == 1
    status = dv.get_by_key("cspb_pricechanges", {"cspb_changekey": f"{key}|2026-12-01"}, select=["cspb_status"])
    assert status["cspb_status"] == 4  # Applied
    assert run_catalog_sync(dv, SHEET, today=DEC).written == {}


def test_a_rejected_announcement_keeps_the_partner_price_and_moves_only_the_cost(dv) -> None:
    subscription(dv, "sub-move", "CFQ7TTC0MOVE", 10, price="25.00")
    run_catalog_sync(dv, SHEET, today=NOV)
    key = "CSP USD|CFQ7TTC0MOVE:0001|P1M monthly"
    dv.upsert("cspb_pricechanges", {"cspb_changekey": f"{key}|2026-12-01"}, {"cspb_status": 3})
    run_catalog_sync(dv, SHEET, today=DEC)
    item = items(dv)[key]
    assert (item["amount"], item["cspb_cost"]) == (D("20.00"), D("22.00"))


def test_a_price_change_already_in_force_is_one_review_per_item_with_its_effective_date(dv) -> None:
    subscription(dv, "sub-tier", "CFQ7TTC0TIER", 3, price="10.00")
    run_catalog_sync(dv, SHEET, today=NOV)
    moved = [dict(r, UnitPrice=str(D(r["UnitPrice"]) + 1), EffectiveStartDate="11/10/2026 12:00:00 AM")
             if r["ProductId"] == "CFQ7TTC0TIER" else r for r in SHEET]
    result = run_catalog_sync(dv, moved, today=NOV)
    assert result.run["counts"]["pricesForReview"] == 1  # three tier rows, one review
    key = "CSP USD|CFQ7TTC0TIER:0001|P1M monthly"
    assert items(dv)[key]["amount"] == D("10.00") and items(dv)[key]["cspb_reviewstatus"] == 2
    change = dv.get_by_key("cspb_pricechanges", {"cspb_changekey": f"{key}|2026-11-10"},
                           select=["cspb_oldamount", "cspb_newamount", "cspb_marginimpact", "cspb_scheduled"])
    assert (change["cspb_oldamount"], change["cspb_newamount"], change["cspb_marginimpact"]) == (
        D("10.00"), D("11.00"), D("-3.00"))
    assert change["cspb_scheduled"] is False
    assert run_catalog_sync(dv, moved, today=NOV).written == {}


def test_fan_out_syncs_one_market_per_message_and_a_redelivered_market_is_skipped(dv, sync_pc) -> None:
    from jobs import sync as jobs
    from sync import catalog_sync, runs
    from sync.catalog_sync import handle_market

    first = jobs.catalog(dv, sync_pc, currencies=["USD", "EUR", "XOF"], everything=True, today=NOV)
    assert first["status"] == "Succeeded" and first["counts"]["enqueued"] == 2  # US feeds USD and XOF; DE feeds EUR
    levels = {p["name"] for p in dv.list("pricelevels", select=["name"])}
    assert levels == {"CSP USD", "CSP EUR", "CSP XOF"}
    assert catalog_sync.markets_for(["USD", "EUR", "XOF"]) == {"DE": ["EUR"], "US": ["USD", "XOF"]}
    assert runs.succeeded(dv, f"{first['runKey']}|US")
    before = dv.http.request_count
    again = handle_market({"runKey": first["runKey"], "market": "US", "currencies": ["USD", "XOF"]},
                          dv=dv, pc=sync_pc)
    assert again["skipped"] and dv.http.request_count - before == 1
    rerun = jobs.catalog(dv, sync_pc, currencies=["USD", "EUR", "XOF"], everything=True, today=NOV)
    assert rerun["written"] == {}


def test_cli_allow_list_round_trip_and_a_bad_kind_is_one_line(monkeypatch, dv_server, dv) -> None:
    from cli.main import cli
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    reset_settings()
    runner = CliRunner()
    added = runner.invoke(cli, ["catalog", "select", "add", "sku", "CFQ7TTC0LH18:0001"])
    assert added.exit_code == 0, added.output
    listed = runner.invoke(cli, ["catalog", "select", "list"])
    assert "sku        CFQ7TTC0LH18:0001" in listed.output and "1 SKUs" in listed.output
    bad = runner.invoke(cli, ["catalog", "select", "add", "sku", "CFQ7TTC0LH18"])
    assert bad.exit_code == 1 and bad.output.strip().count("\n") == 0 and "productId:skuId" in bad.output
    assert runner.invoke(cli, ["catalog", "select", "remove", "sku", "CFQ7TTC0LH18:0001"]).exit_code == 0
    assert runner.invoke(cli, ["catalog", "select", "remove", "sku", "CFQ7TTC0LH18:0001"]).exit_code == 1


def test_a_sheet_that_is_not_the_license_view_fails_with_a_plain_reason_and_a_bad_row_is_named(dv) -> None:
    wrong = run_catalog_sync(dv, [{"ProductId": "X", "SkuId": "1", "MeterId": "m"}], everything=True)
    assert wrong.run["status"] == "Failed" and "UnitPrice" in wrong.run["errors"][0]
    rows = [*SHEET, row("CFQ7TTC0BAD0", "twelve")]
    partial = run_catalog_sync(dv, rows, everything=True, today=NOV)
    assert partial.run["status"] == "PartiallySucceeded" and partial.run["counts"]["badRows"] == 1
    assert partial.run["errors"] == ["price sheet line 9: bad UnitPrice: 'twelve' is not a decimal number"]
    assert partial.run["counts"]["pricesCreated"] == 4
