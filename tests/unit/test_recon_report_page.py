"""The recon report a billing admin reads: names not GUIDs, babel money, findings grouped by
customer with the top on the page and all in findings.csv, English and Spanish, small at 2,000 customers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal as D

from recon.reconcile import Finding, FindingKind, MarginRow, ReconResult, UsageRevision
from recon.report import findings_csv, html_report, revisions_csv

CURRENCIES = ("USD", "EUR", "GBP", "JPY")


def big_result(customers: int = 2000) -> ReconResult:
    findings, margin, revisions = [], [], []
    for i in range(customers):
        name, tenant, cur = f"Customer {i:04d} Ltd", f"{i:08d}-0000-4000-8000-000000000000", CURRENCIES[i % 4]
        for k in range(7):
            kind = (FindingKind.PROVIDER_NOT_BILLED, FindingKind.QUANTITY_MISMATCH,
                    FindingKind.BILLED_NO_PROVIDER_LINE)[k % 3]
            findings.append(Finding(kind, tenant, f"acct-{i}", f"sub-{i}-{k}", f"Microsoft 365 E3 line {k}", cur,
                                    D(10 + i % 97) + D(k), D(5), D(6), name))
        for family in ("Microsoft 365", "Azure", "Security", "Dynamics 365", "Exchange"):
            margin.append(MarginRow(f"acct-{i}", name, family, cur, D(1000 + i), D(900 + i % 300),
                                    ((cur, D(900 + i % 300)),)))
        for k, meter in enumerate(("Virtual Machines", "Storage", "Bandwidth")):
            revisions.append(UsageRevision(name, tenant, f"acct-{i}", f"az-{i}", f"ent-{i}", meter, "2026-11", cur,
                                           D(100 + i % 50), D(100 + i % 50) + D(k - 1) * D("7.5")))
    return ReconResult(findings=findings, margin=margin, revisions=[r for r in revisions if r.delta])


def test_two_thousand_customers_fit_in_a_megabyte_and_every_finding_is_in_the_csv():
    result = big_result()
    html = html_report(result, period="2026-11", counts={"findings": len(result.findings)})
    assert len(html.encode()) < 1_000_000, len(html.encode())
    assert "-0000-4000-8000-" not in html  # names, not tenant GUIDs
    assert "Customer 0000 Ltd" in html and "$1,000.00" in html and "¥" in html
    rows = list(csv.DictReader(io.StringIO(findings_csv(result.findings))))
    assert len(rows) == 14_000 and rows[0]["customer"] == "Customer 0000 Ltd"
    # The first screen is money at risk, then margin; the findings come after.
    assert html.index('id="at-risk"') < html.index('id="margin"') < html.index('id="findings"')
    assert "Leak: charged by Microsoft, not billed" in html and "more in findings.csv" not in html[:2000]
    # 4,000 revised meters: the 30 largest on the page, every one in usage_revisions.csv.
    assert html.index('id="margin"') < html.index('id="usage-revised"') < html.index('id="findings"')
    assert html.count("on the next invoice") == 30 and "usage_revisions.csv has all 4,000." in html
    assert len(list(csv.DictReader(io.StringIO(revisions_csv(result.revisions))))) == 4000


def test_spanish_report_from_the_shared_catalog():
    html = html_report(big_result(20), period="2026-11", language="es")
    assert 'lang="es"' in html and "Dinero en riesgo" in html and "noviembre 2026" in html
    assert "1000,00" in html.replace("\xa0", "").replace(".", "")  # es formats money 1.000,00


def test_cost_missing_is_never_a_hundred_percent_margin():
    row = MarginRow("a", "Contoso", "Microsoft 365", "USD", D("100"), D("0"), (), D("100"))
    assert row.margin_pct is None and row.margin == D("0")
    html = html_report(ReconResult(margin=[row]), period="2026-11")
    assert "100%" not in html and "no cost" in html
