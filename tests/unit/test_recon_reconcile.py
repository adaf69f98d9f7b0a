from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    Provider,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
    UsageSummary,
)
from recon.columns import INVOICE_COLUMNS
from recon.invoice_file import read_invoice_file
from recon.reconcile import FindingKind, TenantAccount, reconcile
from recon.report import findings_csv, html_report, margin_csv
from shared.errors import ValidationError
from tests.plugins.recon import invoice_row, write_csv, write_jsonl

D = Decimal


def test_invoice_file_parses_credits_bom_crlf_and_quarantines_bad_rows(tmp_path: Path) -> None:
    rows = [
        invoice_row(CustomerName="Contoso, Ltd"),
        invoice_row(ChargeType="cancelImmediate", Quantity="-10", BillableQuantity="-10", Subtotal="-60.00",
                    Total="-60.00"),
        invoice_row(BillableQuantity="ten"),
        invoice_row(Currency="ABC"),
    ]
    path = write_csv(tmp_path / "inv.csv", rows, columns=INVOICE_COLUMNS, bom=True, crlf=True)
    result = read_invoice_file(path)
    assert (result.rows_read, result.rows_aggregated, result.rows_quarantined) == (4, 2, 2)
    assert result.lines[0].customer_name == "Contoso, Ltd"
    assert result.lines[1].billable_quantity == D("-10") and result.lines[1].subtotal == D("-60.00")
    assert [(q.line, q.reason) for q in result.quarantine_sample] == [
        (4, "bad decimal in BillableQuantity: ten"), (5, "unknown currency in Currency: ABC")]


def test_invoice_jsonl_and_wrong_header(tmp_path: Path) -> None:
    result = read_invoice_file(write_jsonl(tmp_path / "inv.jsonl.gz", [invoice_row(), "{oops"]))
    assert (result.rows_aggregated, result.rows_quarantined) == (1, 1)
    bad = write_csv(tmp_path / "bad.csv", [invoice_row()], columns=[c for c in INVOICE_COLUMNS
                                                                    if c != "BillableQuantity"])
    with pytest.raises(ValidationError, match="BillableQuantity"):
        read_invoice_file(bad)


def _sub(pid: str, qty: int, *, id: str, family: str = "Microsoft 365", kind=SubscriptionKind.LICENSE,
         status=SubscriptionStatus.ACTIVE, provider=Provider.PARTNER_CENTER) -> Subscription:
    return Subscription(provider_subscription_id=pid, quantity=qty, unit_price=D("8"), id=id, product_family=family,
                        kind=kind, status=status, provider=provider)


def _line(key: str, sub_id: str | None, amount: str, line_type=LineType.LICENSE, usage_keys=()) -> InvoiceLine:
    return InvoiceLine(key=key, line_type=line_type, description=f"line {key}", quantity=D(1), unit_price=D(amount),
                       base_amount=D(amount), discount=D(0), tax=D(0), subscription_id=sub_id,
                       usage_summary_keys=tuple(usage_keys))


def test_reconcile_finds_every_kind_and_margin(tmp_path: Path) -> None:
    rows = [
        invoice_row(SubscriptionId="sub-ok", BillableQuantity="10", Subtotal="60.00"),
        invoice_row(SubscriptionId="sub-qty", BillableQuantity="12", Subtotal="72.00"),
        invoice_row(SubscriptionId="sub-unknown", Subtotal="30.00", BillableQuantity="5"),
        invoice_row(SubscriptionId="sub-notbilled", Subtotal="6.00", BillableQuantity="1"),
        invoice_row(CustomerId="tenant-x", SubscriptionId="sub-x", Subtotal="9.00", BillableQuantity="1"),
    ]
    lines = read_invoice_file(write_csv(tmp_path / "i.csv", rows, columns=INVOICE_COLUMNS)).lines
    subs = [_sub("sub-ok", 10, id="d-ok"), _sub("sub-qty", 10, id="d-qty"), _sub("sub-notbilled", 1, id="d-nb"),
            _sub("sub-azure", 0, id="d-az", family="Azure", kind=SubscriptionKind.AZURE_PLAN),
            _sub("sub-gone", 3, id="d-gone")]
    usage = [UsageSummary(summary_key="k-billed", subscription_id="sub-azure", period="2026-10", currency="USD",
                          cost=D("40.5"), customer_id="cust-a"),
             UsageSummary(summary_key="k-leak", subscription_id="sub-azure", period="2026-10", currency="USD",
                          cost=D("2.25"), customer_id="cust-a", meter_category="Storage")]
    invoice = Invoice(key="C1|2026-10-01|cycle", contract_number="C1", kind=InvoiceKind.CYCLE,
                      period_start=date(2026, 10, 1), period_end=date(2026, 10, 31), invoice_date=date(2026, 11, 1),
                      currency="USD", account_id="acct-a",
                      lines=(_line("1", "d-ok", "80"), _line("2", "d-qty", "80"),
                             _line("3", None, "50", LineType.USAGE, ["k-billed"]), _line("4", "d-gone", "24")))
    tenants = {"cust-a": TenantAccount("cust-a", "acct-a", "Contoso")}
    result = reconcile(provider_lines=lines, usage=usage, subscriptions=subs, invoices=[invoice], tenants=tenants)
    got = sorted((f.kind.value, f.subscription_id) for f in result.findings)
    assert got == sorted([
        ("quantity_mismatch", "sub-qty"),
        ("billed_by_provider_not_to_customer", "sub-unknown"),
        ("billed_by_provider_not_to_customer", "sub-notbilled"),
        # sub-x belongs to the unmapped tenant: its one unmapped_tenant finding carries the cost.
        ("billed_by_provider_not_to_customer", "sub-azure"),  # the Storage summary nobody billed
        ("billed_to_customer_no_provider_line", "sub-gone"),
        ("unmapped_tenant", ""),
    ])
    mismatch = next(f for f in result.findings if f.kind == FindingKind.QUANTITY_MISMATCH)
    assert (mismatch.provider_quantity, mismatch.crm_quantity) == (D("12"), D("10"))
    margin = {(m.customer, m.product_family): m for m in result.margin}
    m365 = margin[("Contoso", "Microsoft 365")]
    assert (m365.revenue, m365.cost) == (D("184"), D("138.00"))
    azure = margin[("Contoso", "Azure")]
    # The Storage summary nobody was billed for (2.25) is a leak: money at risk, not part of the margin.
    assert azure.revenue == D("50") and azure.cost == D("42.75") and azure.cost_without_revenue == D("2.25")
    assert azure.margin == D("9.50") and azure.margin_pct == D("19.00")
    # The unmapped tenant keeps its cost visible, under the provider's customer name and no account.
    assert [(m.account_id, m.cost) for m in result.margin if m.account_id is None] == [(None, D("9.00"))]

    csv_text = margin_csv(result.margin)
    assert csv_text.splitlines()[0] == ("customer,account_id,product_family,currency,revenue,cost,margin,margin_pct,"
                                        "revenue_without_cost,microsoft_cost,cost_without_revenue")
    assert "Contoso,acct-a,Azure,USD,50.00,42.75,9.50,19.00,0.00,42.75 USD,2.25" in csv_text
    assert "quantity_mismatch" in findings_csv(result.findings)
    html = html_report(result, period="2026-10", counts={"rows_read": 5})
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched
    assert "<script" not in html


def test_report_escapes_customer_names() -> None:
    from recon.reconcile import MarginRow, ReconResult

    result = ReconResult(margin=[MarginRow(None, "<b>Evil & Co</b>", "X", "JPY", D("1000"), D("1200"))])
    html = html_report(result, period="2026-10")
    assert "<b>Evil" not in html and "&lt;b&gt;Evil &amp; Co" in html
    assert "-¥200" in html  # JPY has no minor unit, babel formats the money


def test_azure_plan_lines_are_not_seat_counted_and_billed_through_usage(tmp_path: Path) -> None:
    rows = [invoice_row(SubscriptionId="sub-azure", ProductName="Azure plan", BillableQuantity="123.456789",
                        Quantity="123.456789", Subtotal="41.10", Total="41.10", UnitType="1 Hour")]
    lines = read_invoice_file(write_csv(tmp_path / "i.csv", rows, columns=INVOICE_COLUMNS)).lines
    subs = [_sub("sub-azure", 1, id="d-az", family="Azure", kind=SubscriptionKind.AZURE_PLAN)]
    usage = [UsageSummary(summary_key="k1", subscription_id="sub-azure", period="2026-10", currency="USD",
                          cost=D("41.10"), customer_id="cust-a", billed=True, invoice_id="inv-1")]
    result = reconcile(provider_lines=lines, usage=usage, subscriptions=subs, invoices=[],
                       tenants=[TenantAccount("cust-a", "acct-a", "Contoso")])
    assert result.findings == []
