"""The seed hangs off an as-of date, records what it planted, and a running sandbox picks up a re-seed."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal

import pytest

from sandbox.partnercenter.seed import seed_to_dir
from sandbox.partnercenter.state import PartnerCenterState


@pytest.mark.parametrize(("as_of", "billed", "unbilled"), [
    (date(2026, 12, 1), "2026-11", "2026-12"), (date(2027, 1, 1), "2026-12", "2027-01"),
    (date(2024, 2, 29), "2024-01", "2024-02"), (date(2026, 12, 31), "2026-11", "2026-12"),
])
def test_periods_follow_the_as_of_date(tmp_path, as_of, billed, unbilled):
    seed_to_dir(tmp_path, customers=3, seed=4, usage_rows=60, as_of=as_of)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert (meta["as_of"], meta["billed_period"], meta["unbilled_period"]) == (as_of.isoformat(), billed, unbilled)
    invoices = json.loads((tmp_path / "invoices.json").read_text())
    assert invoices and all(inv["billingPeriodStartDate"].startswith(billed) for inv in invoices)


def test_planted_discrepancies_are_recorded_and_crm_excludes_unmapped(tmp_path):
    seed_to_dir(tmp_path, customers=12, seed=1, usage_rows=600, as_of=date(2026, 12, 1), plant=True)
    meta = json.loads((tmp_path / "meta.json").read_text())
    kinds = {p["kind"] for p in meta["planted"]}
    assert {"unmapped_tenant", "mapped_tenant_no_provider_lines", "billed_by_provider_not_to_customer",
            "quantity_mismatch", "billed_to_customer_no_provider_line"} <= kinds
    crm = {a["domain"] for a in meta["crm_accounts"]}
    customers = [json.loads(line) for line in (tmp_path / "customers.jsonl").read_text().splitlines()]
    unmapped = {p["customer_id"] for p in meta["planted"] if p["kind"] == "unmapped_tenant"}
    assert {c["companyProfile"]["domain"] for c in customers if c["id"] not in unmapped} == crm


def test_usage_is_a_plausible_month_for_a_small_tenant(tmp_path):
    seed_to_dir(tmp_path, customers=12, seed=1, usage_rows=3000, as_of=date(2026, 12, 1))
    per_customer: dict[str, Decimal] = {}
    for part in (tmp_path / "exports" / "usage_billed").rglob("*.json.gz"):
        with gzip.open(part, "rt") as fh:
            for line in fh:
                row = json.loads(line, parse_float=Decimal)
                per_customer[row["CustomerId"]] = per_customer.get(row["CustomerId"], Decimal(0)) + \
                    Decimal(row["PricingPreTaxTotal"])
    assert per_customer
    # USD a month per Azure customer: a small or medium tenant, not millions.
    assert all(Decimal(50) < total < Decimal(20000) for total in per_customer.values()), per_customer


def test_a_running_sandbox_serves_a_new_seed_without_restart(tmp_path):
    seed_to_dir(tmp_path, customers=2, seed=1, usage_rows=20, as_of=date(2026, 11, 1))
    state = PartnerCenterState(tmp_path)
    assert state.meta["billed_period"] == "2026-10"
    assert state.reload_if_reseeded() is False
    seed_to_dir(tmp_path, customers=3, seed=2, usage_rows=20, as_of=date(2027, 3, 15))
    assert state.reload_if_reseeded() is True
    assert state.meta["billed_period"] == "2027-02" and len(state.customers) == 3


def test_revising_the_billed_month_rewrites_its_usage_and_invoice_total_and_records_each_change(tmp_path):
    """Microsoft revises a closed month's usage: the admin endpoint (and `cspbridge sandbox revise-usage`)
    rewrites the billed export, moves the invoice total by the same usage, and meta.json says what moved."""
    from werkzeug.test import Client

    from sandbox.partnercenter.server import build_app
    from sandbox.partnercenter.usage_file import read_usage_rows

    seed_to_dir(tmp_path, customers=6, seed=4, usage_rows=600, as_of=date(2026, 12, 1))
    app = build_app(tmp_path)
    before_invoices = {i["id"]: Decimal(i["totalCharges"]) for i in app.state.invoices}

    def usage_total(invoice_id: str) -> Decimal:
        return sum((Decimal(r["BillingPreTaxTotal"]) for part in (tmp_path / "exports" / "usage_billed" / invoice_id)
                    .glob("*.json.gz") for r in read_usage_rows(part)), Decimal(0))

    usage_before = {i: usage_total(i) for i in before_invoices}
    client = Client(app)
    assert client.post("/_sandbox/usage/revise", json={"percent": "abc"}).status_code == 400
    response = client.post("/_sandbox/usage/revise", json={"percent": "10"})
    assert response.status_code == 200
    record = response.get_json()
    assert record["revision"] == 1 and record["changes"]
    assert {c["delta"][0] == "-" for c in record["changes"]} == {True, False}  # some up, some down
    assert any(c["after"] == "0" for c in record["changes"])  # one meter withdrawn in full
    # The running sandbox serves the revision (meta.json changed) and the totals move together.
    assert app.state.meta["revisions"][0]["changes"] == record["changes"]
    for invoice in app.state.invoices:
        moved = sum((Decimal(c["delta"]) for c in record["changes"] if c["invoice"] == invoice["id"]), Decimal(0))
        assert usage_total(invoice["id"]) - usage_before[invoice["id"]] == moved
        assert abs(Decimal(invoice["totalCharges"]) - before_invoices[invoice["id"]] - moved) <= Decimal("0.01")
    # Deterministic: the same seed and revision number revise the same meters by the same amounts.
    other = tmp_path.parent / "again"
    seed_to_dir(other, customers=6, seed=4, usage_rows=600, as_of=date(2026, 12, 1))
    from sandbox.partnercenter.revise import revise_billed_usage

    assert revise_billed_usage(other, percent=Decimal("10"))["changes"] == record["changes"]
