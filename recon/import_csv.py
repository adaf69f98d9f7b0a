"""`cspbridge recon import FILE`: a recon file an admin downloaded from Partner Center (daily-rated
usage or invoice recon; CSV, optionally gzip'd, or JSON lines).

The raw file is stored unchanged with its checksum, bad rows are quarantined next to it, usage is
aggregated into usage summaries, and one recon file row records the counts and status.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from billing.models import UsageSource, UsageSummary
from dataverse.client import DataverseClient
from dataverse.stores.recon_files import ReconFileRow
from dataverse.stores.recon_period import period_summaries, reopen_summaries
from dataverse.tables import ReconFileStatus
from recon.aggregate import AggregateResult, aggregate_usage
from recon.columns import KIND_INVOICE, KIND_USAGE, detect_kind
from recon.invoice_file import InvoiceFileResult, ProviderLine, scan_invoice_file
from recon.revisions import replace_month
from recon.sources import inspect
from recon.store import (
    blob_prefix,
    load_tenants,
    sha256_file,
    summaries_from_groups,
    write_recon_file,
    write_summaries,
)
from shared.blobstore import BlobStore
from shared.errors import IntegrationError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)
ALL_CURRENCIES = "ALL"


@dataclass
class ImportResult:
    kind: str
    period: str
    currency: str
    blob_path: str
    checksum: str
    rows_read: int
    rows_aggregated: int
    rows_quarantined: int
    quarantine_blob: str | None = None
    summaries: list[UsageSummary] = field(default_factory=list)
    reopened: int = 0  # summaries invoiced on figures this file revises (the next bill run trues them up)
    provider_line_count: int = 0  # invoice files: lines read (streamed, not kept; reconcile reads the stored blob)
    recon_file_id: str | None = None


def _period_of(weights: Counter[str], explicit: str | None, what: str) -> str:
    """The folder a file is stored under: --period, else the month most of its rows fall in."""
    if explicit:
        return explicit
    if not weights:
        raise ValidationError(f"{what}: no valid rows to take the period from; pass --period YYYY-MM")
    return weights.most_common(1)[0][0]


def import_file(path: str | Path, *, store: BlobStore, dv: DataverseClient | None = None, period: str | None = None,
                kind_name: str = "import") -> ImportResult:
    """Import one file. `dv` (a DataverseClient) is optional: without it nothing is written to Dataverse."""
    source = Path(path)
    info = inspect(source)
    kind = detect_kind(info.header)
    work = Path(tempfile.mkdtemp(prefix="cspb-recon-"))
    quarantine = work / (source.name + ".quarantine.jsonl")
    checksum = sha256_file(source)
    try:
        parsed: AggregateResult | InvoiceFileResult
        if kind == KIND_USAGE:
            parsed = aggregate_usage(source, quarantine_path=quarantine, temp_dir=work)
            periods: Counter[str] = Counter()
            for g in parsed.groups:
                periods[g.period] += g.row_count
            currencies = {g.currency for g in parsed.groups}
        else:
            periods = Counter()
            currencies = set()

            def tally(pl: ProviderLine) -> None:
                if pl.charge_start:
                    periods[pl.charge_start.strftime("%Y-%m")] += 1
                currencies.add(pl.currency)

            parsed = scan_invoice_file(source, tally, quarantine_path=quarantine)
    except IntegrationError as exc:
        if dv is not None and period:
            write_recon_file(dv, ReconFileRow(period, kind_name, ALL_CURRENCIES, "", checksum, 0, 0, 0,
                                              ReconFileStatus.FAILED, str(exc)))
        raise

    the_period = _period_of(periods, period, source.name)
    currency = next(iter(currencies)) if len(currencies) == 1 else ALL_CURRENCIES
    prefix = blob_prefix(the_period, kind_name, currency)
    stored = store.put_file(f"{prefix}/{source.name}", source)
    if stored.sha256 != checksum:
        raise IntegrationError(f"{source.name}: stored checksum differs from the file's; upload again")
    result = ImportResult(kind=kind, period=the_period, currency=currency, blob_path=stored.path,
                          checksum=checksum, rows_read=parsed.rows_read, rows_aggregated=parsed.rows_aggregated,
                          rows_quarantined=parsed.rows_quarantined)
    if parsed.quarantine_path:
        result.quarantine_blob = store.put_file(f"{prefix}/{quarantine.name}", parsed.quarantine_path).path

    provider_accounts: dict[str, str] = {}
    if dv is not None:
        _tenants, provider_accounts = load_tenants(dv)
    if isinstance(parsed, AggregateResult):
        result.summaries = summaries_from_groups(parsed.groups, provider_accounts)
        if dv is not None:
            # A re-import of revised figures reopens what the customer was invoiced on at the old ones;
            # a portal export may cover only some customers, so nothing missing from it is zeroed.
            reopen: list[UsageSummary] = []
            for month in sorted({s.period for s in result.summaries}):
                _write, found = replace_month(period_summaries(dv, month), [s for s in result.summaries if s.period == month],
                                              period=month, currency="", source=UsageSource.BILLED, whole_month=False)
                reopen.extend(found)
            write_summaries(dv, result.summaries)
            reopen_summaries(dv, reopen)
            result.reopened = len(reopen)
    else:
        result.provider_line_count = parsed.rows_aggregated
    if dv is not None:
        result.recon_file_id = write_recon_file(dv, ReconFileRow(
            the_period, kind_name, currency, stored.path, checksum, result.rows_read, result.rows_aggregated,
            result.rows_quarantined,
            ReconFileStatus.AGGREGATED if kind == KIND_USAGE else ReconFileStatus.INGESTED,
            f"{result.rows_quarantined} row(s) quarantined: {result.quarantine_blob}" if result.quarantine_blob
            else ""))
    log.info("recon import %s: kind=%s period=%s read=%d aggregated=%d quarantined=%d", source.name, kind,
             the_period, result.rows_read, result.rows_aggregated, result.rows_quarantined)
    return result


__all__ = ["ImportResult", "import_file", "KIND_INVOICE", "KIND_USAGE"]
