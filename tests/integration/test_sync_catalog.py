"""Catalog sync against the Dataverse sandbox: create, quiet second run, review instead of overwrite."""

from __future__ import annotations

from decimal import Decimal

import pytest

from sync.catalog_sync import run_catalog_sync

pytestmark = pytest.mark.integration


def test_first_run_builds_the_catalog_and_second_run_writes_nothing(dv, price_sheet_rows) -> None:
    dv.create("cspb_markuprules", {"cspb_rulekey": "default", "cspb_name": "default", "cspb_productfamily": "",
                                   "cspb_markuppct": Decimal("20")})
    first = run_catalog_sync(dv, price_sheet_rows, currencies=["USD", "EUR", "XOF"], everything=True)
    assert first.run["status"] == "Succeeded"
    assert first.currency_sources == {"USD": "USD", "EUR": "EUR", "XOF": "USD"}
    products = list(dv.list("products", select=["productnumber"]))
    assert sorted(p["productnumber"] for p in products) == ["CFQ7TTC0LCHC:0002", "CFQ7TTC0LDPB:0001",
                                                             "CFQ7TTC0LH18:0001"]
    units = {u["name"] for u in dv.list("uoms", select=["name"])}
    assert {"P1M monthly", "P1Y monthly", "P1Y annual", "P3Y annual"} <= units
    levels = {p["name"] for p in dv.list("pricelevels", select=["name"])}
    assert levels == {"CSP USD", "CSP EUR", "CSP XOF"}
    item = dv.get_by_key("productpricelevels", {"cspb_pricekey": "CSP USD|CFQ7TTC0LH18:0001|P1Y annual"},
                         select=["amount", "cspb_cost"])
    assert item["cspb_cost"] == Decimal("57.60") and item["amount"] == Decimal("69.12")

    before = dv.http.request_count
    second = run_catalog_sync(dv, price_sheet_rows, currencies=["USD", "EUR", "XOF"], everything=True)
    assert second.written == {}
    assert second.run["counts"]["pricesUnchanged"] == first.run["counts"]["pricesCreated"]
    writes = dv.http.request_count - before
    # reads (unit group + units, price lists, currencies, rules, provider accounts + subscriptions, selection,
    # products, then per price list its items and its price changes) + the run row's two writes; no other write
    assert writes <= 17
    runs_written = list(dv.list("cspb_syncruns", select=["cspb_kind", "cspb_status"]))
    assert len(runs_written) == 2 and all(r["cspb_status"] == 2 for r in runs_written)


def test_a_microsoft_price_change_is_tagged_for_review_not_written(dv, price_sheet_rows) -> None:
    run_catalog_sync(dv, price_sheet_rows, currencies=["USD"], everything=True)
    key = "CSP USD|CFQ7TTC0LH18:0001|P1M monthly"
    old = dv.get_by_key("productpricelevels", {"cspb_pricekey": key}, select=["amount"])["amount"]
    changed = [dict(r) for r in price_sheet_rows]
    for row in changed:
        if row["ProductId"] == "CFQ7TTC0LH18" and row["TermDuration"] == "P1M" and row["Currency"] == "USD":
            row["UnitPrice"] = "9.99"
    result = run_catalog_sync(dv, changed, currencies=["USD"], everything=True)
    assert result.run["counts"]["pricesForReview"] == 1
    item = dv.get_by_key("productpricelevels", {"cspb_pricekey": key}, select=["amount", "cspb_reviewstatus"])
    assert item["amount"] == old and item["cspb_reviewstatus"] == 2
    change = dv.get_by_key("cspb_pricechanges", {"cspb_changekey": key},
                           select=["cspb_oldamount", "cspb_newamount", "cspb_status"])
    assert change["cspb_oldamount"] == old and change["cspb_newamount"] == Decimal("9.99") and change["cspb_status"] == 1
    again = run_catalog_sync(dv, changed, currencies=["USD"], everything=True)
    assert again.written == {}
