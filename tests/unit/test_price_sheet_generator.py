"""The sandbox's real-shaped price sheets (`seed --price-rows`): Microsoft's columns and quirks, and
months that agree with each other."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date

from sandbox.partnercenter import catalog
from sandbox.partnercenter.seed import price_sheet_rows, seed_to_dir

NOV, DEC = date(2026, 11, 1), date(2026, 12, 1)


def _rows(market: str, month: date, n: int = 3000) -> list[dict[str, str]]:
    return list(catalog.big_price_sheet_rows(market, month, n))


def test_shape_tiers_future_rows_endings_and_empty_fields() -> None:
    rows = _rows("US", NOV)
    assert 3000 <= len(rows) < 3010
    assert {r["Currency"] for r in rows} == {"USD"} and {r["Market"] for r in rows} == {"US"}
    assert any(r["PricingTierRangeMin"] == "501" and r["PricingTierRangeMax"] == "1000" for r in rows)
    assert any(r["EffectiveStartDate"].startswith("12/1/2026") for r in rows)
    assert any(r["EffectiveEndDate"] for r in rows)
    for column in ("SkuDescription", "UnitOfMeasure", "Tags", "ERP Price"):
        assert any(r[column] == "" for r in rows), column
    by_item = defaultdict(list)
    for r in rows:
        by_item[(r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"])].append(r)
    assert sum(1 for v in by_item.values() if len(v) > 1) > len(by_item) * 0.05  # keys shared by several rows
    jp = _rows("JP", NOV)
    assert {r["Currency"] for r in jp} == {"JPY"} and all("." not in r["UnitPrice"] for r in jp)


def test_what_a_month_announces_is_the_next_months_price_in_force() -> None:
    nov = [r for r in _rows("DE", NOV) if r["EffectiveStartDate"].startswith("12/1/2026") and not r["PricingTierRangeMin"]]
    dec = {(r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"]): r["UnitPrice"]
           for r in _rows("DE", DEC, 6000) if r["EffectiveStartDate"].startswith("12/1/2026")}
    assert nov
    matched = [r for r in nov if (r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"]) in dec]
    assert matched and all(dec[(r["ProductId"], r["SkuId"], r["TermDuration"], r["BillingPlan"])] == r["UnitPrice"]
                           for r in matched)


def test_the_csv_is_quoted_like_microsofts_and_seed_writes_every_market(tmp_path) -> None:
    buf = io.StringIO()
    catalog.write_price_sheet(buf, price_sheet_rows("US", NOV))
    assert buf.getvalue().startswith('"ProductTitle","ProductId","SkuId"') and "\r\n" in buf.getvalue()
    seed_to_dir(tmp_path / "pc", customers=2, seed=1, usage_rows=0, as_of=NOV, price_rows=400)
    for market in ("US", "DE", "JP"):
        with open(tmp_path / "pc" / "pricesheets" / f"{market}.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))
        assert 400 <= len(rows) < 410 and rows[0]["ProductId"] == catalog.LICENSE_SKUS[0][0]
