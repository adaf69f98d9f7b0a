"""Load what Dynamics knows for a period, reconcile, and store the report next to the recon files
(`recon/{period}/report/`: margin.csv, findings.csv, usage_revisions.csv, report.html)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

from billing.models import ExchangeRate, Invoice, Subscription, UsageSummary
from billing.money import round_places
from dataverse.client import DataverseClient
from dataverse.tables import EntitySet
from recon.aggregate import aggregate_usage
from recon.invoice_file import ProviderLine, read_invoice_file
from recon.reconcile import (
    ProviderInvoiceTotal,
    ReconResult,
    TenantAccount,
    invoice_checks,
    month_rates,
    reconcile,
)
from recon.report import findings_csv, html_report, margin_csv, revisions_csv
from recon.store import MONEY_DECIMALS, load_tenants, summaries_from_groups
from shared.blobstore import BlobStore
from shared.errors import ValidationError


def period_bounds(period: str) -> tuple[date, date]:
    try:
        year, month = (int(p) for p in period.split("-"))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except (ValueError, TypeError):
        raise ValidationError(f"period must be YYYY-MM, got {period!r}") from None


def load_dynamics(dv: DataverseClient, period: str) -> tuple[list[Subscription], list[Invoice], list[UsageSummary],
                                                  dict[str, TenantAccount]]:
    """Subscriptions, the invoices with a line billing the period (an invoice of a later cycle
    carries the month's prorations and arrears usage), the period's usage summaries, and the
    tenant -> account map."""
    from dataverse import map_billing as m
    from dataverse.stores.recon_period import invoices_covering, period_summaries

    start, end = period_bounds(period)
    subs = [m.subscription_from_row(r) for r in dv.list(EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT)]
    invoices = invoices_covering(dv, start, end)
    usage = period_summaries(dv, period)
    tenants, _ = load_tenants(dv)
    return subs, invoices, usage, tenants


def with_billing_state(usage: Sequence[UsageSummary], stored: Sequence[UsageSummary]) -> list[UsageSummary]:
    """`usage` (Microsoft's figures) with the billing state Dynamics holds for the same keys."""
    by_key = {s.summary_key: s for s in stored}
    out = []
    for s in usage:
        known = by_key.get(s.summary_key)
        if known is None:
            out.append(s)
            continue
        # The same figures as Dynamics holds (it keeps 4 places): its number, so no revision shows from rounding.
        cost = known.cost if round_places(s.cost, MONEY_DECIMALS) == known.cost else s.cost
        out.append(replace(s, cost=cost, id=known.id, billed=known.billed, invoice_id=known.invoice_id,
                           billed_cost=known.billed_cost, billed_source=known.billed_source,
                           provider_account_id=s.provider_account_id or known.provider_account_id))
    return out


def dynamics_rates(dv: DataverseClient) -> list[ExchangeRate]:
    """The month's rate table in Dynamics (the exchange-rate table), the one the billing run converts with."""
    from dataverse.exchange_rates import load_exchange_rates

    return load_exchange_rates(dv)


def store_report(period: str, result: ReconResult, *, store: BlobStore, counts: dict[str, int] | None = None,
                 out_dir: Path | None = None, language: str = "en") -> dict[str, str]:
    files = {
        "margin.csv": (margin_csv(result.margin), "text/csv"),
        "findings.csv": (findings_csv(result.findings), "text/csv"),
        "usage_revisions.csv": (revisions_csv(result.revisions), "text/csv"),
        "report.html": (html_report(result, period=period, counts=counts, language=language), "text/html"),
    }
    paths = {}
    for name, (text, content_type) in files.items():
        data = text.encode("utf-8")
        paths[name] = store.put(f"recon/{period}/report/{name}", data, content_type=content_type).path
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / name).write_bytes(data)
    return paths


def build_report(period: str, *, provider_lines: Sequence[ProviderLine], usage: Sequence[UsageSummary],
                 store: BlobStore, dv: DataverseClient | None = None, subscriptions: Sequence[Subscription] = (),
                 invoices: Sequence[Invoice] = (), tenants: dict[str, TenantAccount] | None = None,
                 out_dir: Path | None = None, rates: Sequence[ExchangeRate] = (),
                 provider_invoices: Sequence[ProviderInvoiceTotal] = (),
                 language: str = "en") -> tuple[ReconResult, dict[str, str]]:
    """With `dv`, Dynamics data (and the period's stored usage summaries, when `usage` is empty) are loaded."""
    from shared.config import get_settings

    extra = list(rates)
    account_names: dict[str, str] = {}
    if dv is not None:
        subscriptions, invoices, stored_usage, tenants = load_dynamics(dv, period)
        # Usage read from files knows Microsoft's figures, Dynamics knows what was invoiced on them.
        usage = with_billing_state(usage, stored_usage) if usage else stored_usage
        extra = dynamics_rates(dv) + extra
        wanted = {inv.account_id for inv in invoices if inv.account_id}
        account_names = {r["accountid"]: r.get("name") or "" for r in dv.list(EntitySet.ACCOUNTS, select=["accountid", "name"])
                         if r["accountid"] in wanted}
    result = reconcile(provider_lines=provider_lines, usage=usage, subscriptions=subscriptions,
                       invoices=invoices, tenants=tenants or {}, period=period,
                       rates=month_rates(provider_lines, extra), provider_invoices=provider_invoices,
                       tolerance=_tolerance(get_settings().recon_invoice_tolerance), account_names=account_names)
    counts = {"provider_lines": len(provider_lines), "usage_summaries": len(usage),
              "subscriptions": len(subscriptions), "customer_invoices": len(invoices),
              "findings": len(result.findings)}
    return result, store_report(period, result, store=store, counts=counts, out_dir=out_dir, language=language)


def _tolerance(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValidationError(f"CSPB_RECON_INVOICE_TOLERANCE must be a number, got {text!r}") from None
    if value < 0:
        raise ValidationError(f"CSPB_RECON_INVOICE_TOLERANCE must be >= 0, got {text!r}")
    return value


def report_from_files(period: str, *, invoice_files: Sequence[Path], usage_files: Sequence[Path],
                      store: BlobStore, dv: DataverseClient | None = None, out_dir: Path | None = None,
                      language: str = "en",
                      microsoft_invoices: Sequence[tuple[str, str, Decimal]] = ()) -> dict[str, str]:
    """The report rebuilt from recon files. `microsoft_invoices` (id, currency, totalCharges) are
    checked against the files' lines and billed usage, as the timer's report does."""
    lines: list[ProviderLine] = []
    for path in invoice_files:
        lines.extend(read_invoice_file(path).lines)
    usage: list[UsageSummary] = []
    billed: dict[str, Decimal] = {}
    for path in usage_files:
        result = aggregate_usage(path)
        usage.extend(summaries_from_groups(result.groups))
        for currency, total in result.totals_by_currency().items():
            billed[currency] = billed.get(currency, Decimal(0)) + total
    _result, paths = build_report(period, provider_lines=lines, usage=usage, store=store, dv=dv, out_dir=out_dir,
                                  language=language, provider_invoices=invoice_checks(microsoft_invoices, lines, billed))
    return paths
