"""Usage revised after month-end: the re-ingest replaces the month (no double counting), reopens what
the customer was invoiced on at other figures, the recon reports the delta, and billing trues it up."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import date
from decimal import Decimal as D

from billing.models import Policy, SubscriptionKind, UsageSource, UsageSummary
from billing.run_service import execute_run
from billing.runs import BillingData
from billing.usage_rating import billed_delta, needs_true_up
from recon.reconcile import FindingKind, TenantAccount, reconcile
from recon.report import html_report, revisions_csv
from recon.revisions import replace_month
from tests.plugins.billing import MemoryBillingRepository, make_contract, make_sub

AZ = make_sub(provider_subscription_id="AZ-1", id="s-az", quantity=1, unit_price=D(0), kind=SubscriptionKind.AZURE_PLAN)


def summary(meter: str, cost: str, **kw) -> UsageSummary:  # type: ignore[no-untyped-def]
    return UsageSummary(f"t1|AZ-1|e1|{meter}|2026-11|USD", "AZ-1", "2026-11", "USD", D(cost), customer_id="t1",
                        entitlement_id="e1", meter_category=meter, id=f"u-{meter}", **kw)


def invoiced(s: UsageSummary) -> UsageSummary:
    return replace(s, billed=True, invoice_id="inv-1", billed_cost=s.cost, billed_source=UsageSource.BILLED)


def test_a_revision_replaces_the_month_zeroes_what_vanished_and_reopens_what_was_invoiced():
    before = [invoiced(summary("Compute", "100.0000")), invoiced(summary("Storage", "20.1234")),
              invoiced(summary("Bandwidth", "5.0000")), invoiced(summary("Key Vault", "3.5000"))]
    now = [replace(summary("Compute", "108.00004"), id=None), replace(summary("Storage", "20.12341"), id=None),
           replace(summary("Key Vault", "3.50038"), id=None)]
    write, reopen = replace_month(before, now, period="2026-11", currency="USD", source=UsageSource.BILLED)

    assert sorted((s.meter_category, s.cost) for s in write) == [
        ("Bandwidth", D(0)), ("Compute", D("108.00004")), ("Key Vault", D("3.50038")), ("Storage", D("20.12341"))]
    # Storage differs only below Dynamics' 4 places: not a revision; Key Vault moved 0.0004: it is.
    # Bandwidth was withdrawn: credit it all.
    assert sorted((s.meter_category, billed_delta(s)) for s in reopen) == [
        ("Bandwidth", D("-5.0000")), ("Compute", D("8.0000")), ("Key Vault", D("0.0004"))]
    assert all(s.id for s in reopen)
    # The same export again: nothing left to reopen (they are open already), Bandwidth is zero already,
    # and the upsert on the summary keys replaces instead of adding.
    again, reopened = replace_month([*[replace(s, billed=False) for s in reopen],
                                     *(s for s in before if s.meter_category == "Storage")],
                                    now, period="2026-11", currency="USD", source=UsageSource.BILLED)
    assert reopened == [] and sorted(s.meter_category for s in again) == ["Compute", "Key Vault", "Storage"]


def test_an_unbilled_export_replaces_only_estimates():
    billed = invoiced(summary("Compute", "100"))
    estimate = replace(summary("Storage", "3"), source=UsageSource.UNBILLED)
    write, reopen = replace_month([billed, estimate], [], period="2026-11", currency="USD",
                                  source=UsageSource.UNBILLED)
    assert [(s.meter_category, s.cost) for s in write] == [("Storage", D(0))] and reopen == []


def test_billing_trues_up_a_revision_of_billed_figures_once_with_markup():
    contract = make_contract(policy=Policy.ARREARS, next_invoice_date=date(2026, 12, 1), usage_markup_pct=D(10),
                             start_date=date(2026, 11, 1))
    first = summary("Compute", "100.00")
    repo = MemoryBillingRepository(BillingData([contract], [AZ], usage=[first]))
    dec = execute_run(repo, date(2026, 12, 1))
    assert [ln.base_amount for inv in dec.invoices for ln in inv.lines if ln.usage_summary_keys] == [D("110.00")]
    stored = repo.data.usage[0]
    assert not needs_true_up(stored)
    # Microsoft withdraws 6.40 of November after its invoice; the recon ingest reopens the summary.
    repo.data = replace(repo.data, usage=[replace(stored, cost=D("93.60"), billed=False)])
    assert needs_true_up(repo.data.usage[0])
    jan = execute_run(repo, date(2027, 1, 1))
    true_up, = [ln for inv in jan.invoices for ln in inv.lines if "|trueup|" in ln.key]
    assert true_up.base_amount == D("-7.04") and "revised" in true_up.description
    assert true_up.period_start == date(2026, 11, 1)
    feb = execute_run(repo, date(2027, 2, 1))
    assert not [ln for inv in feb.invoices for ln in inv.lines if "|trueup|" in ln.key]


def test_the_recon_reports_the_delta_per_customer_subscription_and_meter():
    usage = [replace(invoiced(summary("Compute", "100.00")), cost=D("108.00")),
             replace(invoiced(summary("Bandwidth", "5.00")), cost=D(0)),
             invoiced(summary("Storage", "20.00"))]
    result = reconcile(provider_lines=[], usage=usage, subscriptions=[AZ], invoices=[],
                       tenants=[TenantAccount("t1", "a1", "Contoso")], period="2026-11")
    found = sorted((f.kind, f.amount) for f in result.findings if f.kind == FindingKind.USAGE_REVISED)
    assert found == [(FindingKind.USAGE_REVISED, D("-5.00")), (FindingKind.USAGE_REVISED, D("8.00"))]
    assert not [f for f in result.findings if f.kind == FindingKind.PROVIDER_NOT_BILLED]
    rows = list(csv.DictReader(io.StringIO(revisions_csv(result.revisions))))
    assert [(r["customer"], r["meter_category"], r["billed_cost"], r["cost"], r["delta"]) for r in rows] == [
        ("Contoso", "Bandwidth", "5.00", "0", "-5.00"), ("Contoso", "Compute", "100.00", "108.00", "8.00")]
    html = html_report(result, period="2026-11")
    assert 'id="usage-revised"' in html and "true-up on the next invoice" in html and "credit on the next invoice" in html
    assert "Consumo revisado" in html_report(result, period="2026-11", language="es")
    unchanged = reconcile(provider_lines=[], usage=[usage[2]], subscriptions=[AZ], invoices=[],
                          tenants=[TenantAccount("t1", "a1", "Contoso")], period="2026-11")
    assert not unchanged.revisions and 'id="usage-revised"' not in html_report(unchanged, period="2026-11")


def test_an_imported_file_revises_the_keys_it_has_and_zeroes_nothing():
    """A usage CSV an admin exported from the portal may be filtered to some customers."""
    before = [invoiced(summary("Compute", "100.0000")), invoiced(summary("Storage", "20.0000"))]
    now = [replace(summary("Compute", "90.00"), id=None)]
    write, reopen = replace_month(before, now, period="2026-11", currency="", source=UsageSource.BILLED,
                                  whole_month=False)
    assert [(s.meter_category, s.cost) for s in write] == [("Compute", D("90.00"))]
    assert [(s.meter_category, billed_delta(s)) for s in reopen] == [("Compute", D("-10.0000"))]
