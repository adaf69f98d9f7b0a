"""The seed is deterministic and internally consistent (prices, windows, currencies)."""

from __future__ import annotations

import csv
import json
from decimal import Decimal

from sandbox.partnercenter import catalog
from sandbox.partnercenter.seed import PRICE_SHEET_COLUMNS, seed_to_dir


def test_same_seed_same_files(tmp_path):
    a = seed_to_dir(tmp_path / "a", customers=4, seed=5, usage_rows=200)
    b = seed_to_dir(tmp_path / "b", customers=4, seed=5, usage_rows=200)
    assert {k: v for k, v in a.items() if k not in ("seconds", "state_dir")} == \
        {k: v for k, v in b.items() if k not in ("seconds", "state_dir")}
    for rel in ("customers.jsonl", "invoices.json", "pricesheets/US.csv"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.gz"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.gz"))
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_price_sheet_columns_and_term_pricing(tmp_path):
    seed_to_dir(tmp_path, customers=1, seed=1, usage_rows=10)
    with open(tmp_path / "pricesheets" / "DE.csv", newline="") as fh:
        reader = csv.DictReader(fh)
        assert tuple(reader.fieldnames) == PRICE_SHEET_COLUMNS
        rows = list(reader)
    assert {r["Currency"] for r in rows} == {"EUR"}
    e3 = {(r["TermDuration"], r["BillingPlan"]): Decimal(r["UnitPrice"]) for r in rows if r["ProductId"] == "CFQ7TTC0LFLX"}
    assert set(e3) == {("P1M", "Monthly"), ("P1Y", "Monthly"), ("P1Y", "Annual"), ("P3Y", "Monthly"), ("P3Y", "Annual")}
    assert e3[("P1M", "Monthly")] > e3[("P1Y", "Monthly")] > e3[("P1Y", "Annual")] / 12
    assert all(Decimal(r["ERP Price"]) > Decimal(r["UnitPrice"]) for r in rows)


def test_customers_span_currencies_and_subscriptions_have_terms(tmp_path):
    seed_to_dir(tmp_path, customers=40, seed=2, usage_rows=100)
    states = [json.loads(p.read_text()) for p in (tmp_path / "customers").glob("*.json")]
    assert len({s["currency"] for s in states}) >= 8
    assert set(catalog.ALL_PRICING_CURRENCIES) >= {s["currency"] for s in states}
    subs = [sub for s in states for sub in s["subscriptions"]]
    assert {sub["termDuration"] for sub in subs} >= {"P1M", "P1Y", "P3Y"}
    assert {sub["status"] for sub in subs} >= {"active", "suspended", "expired"}
    assert any(sub["isTrial"] for sub in subs) and any(s["entitlements"] for s in states)
