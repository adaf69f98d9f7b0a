"""Ingest one period's recon data from Partner Center (Graph billing exports) into Blob Storage and
Dataverse.

For each billed invoice of the period (one per currency): the invoice recon export and the billed
daily-rated usage export. For the period's currencies: the unbilled usage export, when the period
is the current or the last month (the only ones Graph serves unbilled). Each export's blobs are
stored unchanged under `recon/{period}/{kind}/{currency}/raw/` with their checksum, then joined into
one consolidated file per kind and currency (gzip members concatenate into a valid gzip stream, so
nothing is decompressed or re-encoded). Usage is aggregated into usage summaries, and every file
gets a recon file row with its counts and status. Billed usage is written after unbilled, so
for a month that has both, the billed numbers win.

API: learn.microsoft.com/partner-center/developer/get-billed-unbilled-usage-reconciliation and
learn.microsoft.com/partner-center/developer/billed-invoice-reconciliation.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from billing.models import UsageSource, UsageSummary
from dataverse.client import DataverseClient
from dataverse.stores.recon_files import ReconFileRow
from dataverse.stores.recon_period import period_summaries, reopen_summaries
from dataverse.tables import ReconFileStatus
from recon.aggregate import AggregateResult, aggregate_usage
from recon.invoice_file import InvoiceFileResult, ProviderLine, read_invoice_file
from recon.reconcile import ProviderInvoiceTotal
from recon.revisions import replace_month
from recon.store import (
    blob_prefix,
    load_tenants,
    sha256_file,
    summaries_from_groups,
    write_recon_file,
    write_summaries,
)
from shared.blobstore import BlobStore
from shared.errors import IntegrationError, RetriableError
from shared.logging import get_logger

if TYPE_CHECKING:
    from partnercenter.client import PartnerCenterClient

log = get_logger(__name__)

KIND_INVOICE = "invoice"
KIND_BILLED = "billed_usage"
KIND_UNBILLED = "unbilled_usage"
CONSOLIDATED = {KIND_INVOICE: "invoice_recon.jsonl.gz", KIND_BILLED: "billed_usage.jsonl.gz",
                KIND_UNBILLED: "unbilled_usage.jsonl.gz"}


@dataclass
class FileOutcome:
    kind: str
    currency: str
    blob_path: str
    checksum: str
    rows_read: int = 0
    rows_aggregated: int = 0
    rows_quarantined: int = 0
    quarantine_blob: str | None = None
    status: str = "ok"
    error: str = ""


@dataclass
class IngestOutcome:
    period: str
    files: list[FileOutcome] = field(default_factory=list)
    summary_keys: set[str] = field(default_factory=set)
    provider_lines: list[ProviderLine] = field(default_factory=list)
    # Microsoft invoice totals against what their recon lines add up to (licenses + billed usage).
    invoice_totals: list[ProviderInvoiceTotal] = field(default_factory=list)
    # Summaries invoiced on Microsoft's billed figures that this ingest found revised (reopened for a true-up).
    reopened: list[UsageSummary] = field(default_factory=list)

    @property
    def usage_summaries(self) -> int:
        """Distinct summaries written (billed and unbilled usage of one month share keys)."""
        return len(self.summary_keys)

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status != "ok"]

    def as_dict(self) -> dict[str, Any]:
        return {"period": self.period, "usage_summaries": self.usage_summaries,
                "provider_lines": len(self.provider_lines), "reopened": len(self.reopened),
                "files": [vars(f) for f in self.files]}


def _month(value: datetime | date | None) -> str:
    return value.strftime("%Y-%m") if value else ""


def invoices_of(period: str, invoices: Sequence[Any]) -> list[Any]:
    """Microsoft's invoices (partnercenter Invoice) that bill `period` (YYYY-MM)."""
    return [inv for inv in invoices if (_month(inv.billing_period_start) or _month(inv.invoice_date)) == period]


def _unbilled_window(period: str, today: date) -> str | None:
    current = today.strftime("%Y-%m")
    last = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    return "current" if period == current else "last" if period == last else None


def _consolidate(parts: Sequence[Path], target: Path) -> Path:
    with target.open("wb") as out:
        for part in sorted(parts):
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)
    return target


def ingest_period(period: str, *, store: BlobStore, dv: DataverseClient | None = None,
                  pc: PartnerCenterClient | None = None, progress: bool = False,
                  today: date | None = None, currencies: Sequence[str] | None = None,
                  workdir: Path | None = None) -> IngestOutcome:
    """Fetch, store, aggregate. A file that fails validation is recorded (its recon file row, status Failed)
    and the run goes on with the next; transient errors propagate so the caller (timer) retries."""
    if pc is None:
        from partnercenter.client import PartnerCenterClient
        from shared.config import get_settings

        # The loopback sandbox finishes an export by the second poll; Graph itself takes minutes.
        pc = PartnerCenterClient.from_settings(poll_interval=0.2 if get_settings().mode == "sandbox" else 5.0)
    today = today or datetime.now(UTC).date()
    outcome = IngestOutcome(period)
    provider_accounts: dict[str, str] = {}
    if dv is not None:
        _tenants, provider_accounts = load_tenants(dv)

    invoices = pc.list_invoices()
    billed = invoices_of(period, invoices)
    wanted_currencies = sorted({c.upper() for c in (currencies or [inv.currency_code for inv in invoices]) if c})
    window = _unbilled_window(period, today)

    jobs: list[tuple[str, str, Any]] = []
    line_totals: dict[str, Any] = {}  # invoice id -> Decimal, filled as its files are read
    for inv in billed:
        jobs.append((KIND_INVOICE, inv.currency_code.upper(),
                     lambda d, i=inv.id: pc.export_billed_reconciliation(i, d)))
    if window:
        for cur in wanted_currencies:
            jobs.append((KIND_UNBILLED, cur, lambda d, c=cur: pc.export_unbilled_usage(c, d, billing_period=window)))
    for inv in billed:
        jobs.append((KIND_BILLED, inv.currency_code.upper(), lambda d, i=inv.id: pc.export_billed_usage(i, d)))

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=f"recon {period}", unit="export")
    work = Path(workdir or tempfile.mkdtemp(prefix="cspb-ingest-"))
    try:
        for kind, currency, export in jobs:
            outcome.files.append(_ingest_one(kind, currency, export, period=period, store=store, dv=dv,
                                             work=work / f"{kind}-{currency}", outcome=outcome,
                                             provider_accounts=provider_accounts, line_totals=line_totals))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        if workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = {(f.kind, f.currency) for f in outcome.failed}
    for inv in billed:
        cur = inv.currency_code.upper()
        if (KIND_INVOICE, cur) in failed or (KIND_BILLED, cur) in failed:
            continue  # a file that did not read has its own finding; its total would only repeat it
        outcome.invoice_totals.append(ProviderInvoiceTotal(inv.id, cur, inv.total_charges,
                                                           line_totals.get(f"{KIND_INVOICE}:{cur}", 0)
                                                           + line_totals.get(f"{KIND_BILLED}:{cur}", 0)))
    log.info("recon ingest %s: %d file(s), %d failed, %d usage summaries", period, len(outcome.files),
             len(outcome.failed), outcome.usage_summaries)
    return outcome


def _ingest_one(kind: str, currency: str, export: Any, *, period: str, store: BlobStore, dv: DataverseClient | None,
                work: Path, outcome: IngestOutcome, provider_accounts: dict[str, str],
                line_totals: dict[str, Any] | None = None) -> FileOutcome:
    prefix = blob_prefix(period, kind, currency)
    work.mkdir(parents=True, exist_ok=True)
    downloaded = export(work / "raw")
    raw_blobs = []
    for part in downloaded.files:
        # Raw blobs exactly as Microsoft wrote them; the checksum lands in the blob metadata too.
        info = store.put_file(f"{prefix}/raw/{part.name}", part)
        raw_blobs.append({"path": info.path, "bytes": info.size, "sha256": info.sha256})
    consolidated = _consolidate(downloaded.files, work / CONSOLIDATED[kind])
    checksum = sha256_file(consolidated)
    stored = store.put_file(f"{prefix}/{consolidated.name}", consolidated, content_type="application/gzip")
    # Checksums of every stored file in one place (a local folder keeps no blob metadata).
    manifest = {"period": period, "kind": kind, "currency": currency, "graphManifestId": downloaded.manifest.id,
                "consolidated": {"path": stored.path, "bytes": stored.size, "sha256": checksum}, "raw": raw_blobs}
    store.put(f"{prefix}/manifest.json", json.dumps(manifest, indent=1).encode(), content_type="application/json")
    result = FileOutcome(kind, currency, stored.path, checksum)
    quarantine = work / (consolidated.name + ".quarantine.jsonl")
    parsed: AggregateResult | InvoiceFileResult | None = None
    try:
        if not downloaded.files:
            parsed = None
        elif kind == KIND_INVOICE:
            invoice = read_invoice_file(consolidated, quarantine_path=quarantine)
            outcome.provider_lines.extend(invoice.lines)
            parsed = invoice
            if line_totals is not None:
                line_totals[f"{kind}:{currency}"] = sum((ln.total for ln in invoice.lines), Decimal(0))
        else:
            usage = aggregate_usage(consolidated, quarantine_path=quarantine, temp_dir=work)
            parsed = usage
            if line_totals is not None and kind == KIND_BILLED:
                line_totals[f"{kind}:{currency}"] = usage.totals_by_currency().get(currency, Decimal(0))
            source = UsageSource.UNBILLED if kind == KIND_UNBILLED else UsageSource.BILLED
            summaries = summaries_from_groups(usage.groups, provider_accounts, source)
            if dv is not None:
                # The export replaces the month: vanished keys go to zero, and a summary the customer
                # was invoiced on at other figures is reopened so the next bill run trues it up.
                previous = period_summaries(dv, period, currency)
                summaries, reopen = replace_month(previous, summaries, period=period, currency=currency,
                                                  source=source)
                write_summaries(dv, summaries)
                reopen_summaries(dv, reopen)
                outcome.reopened.extend(reopen)
            outcome.summary_keys.update(s.summary_key for s in summaries)
    except RetriableError:
        raise
    except IntegrationError as exc:
        result.status, result.error = "failed", str(exc)
        parsed = None
    if parsed is not None:
        result.rows_read, result.rows_aggregated = parsed.rows_read, parsed.rows_aggregated
        result.rows_quarantined = parsed.rows_quarantined
        if parsed.quarantine_path:
            result.quarantine_blob = store.put_file(f"{prefix}/{quarantine.name}", parsed.quarantine_path).path
    if dv is not None:
        status = (ReconFileStatus.FAILED if result.status != "ok" else
                  ReconFileStatus.INGESTED if kind == KIND_INVOICE else ReconFileStatus.AGGREGATED)
        error = result.error or (f"{result.rows_quarantined} row(s) quarantined: {result.quarantine_blob}"
                                 if result.quarantine_blob else "")
        write_recon_file(dv, ReconFileRow(period, kind, currency, result.blob_path, checksum, result.rows_read,
                                          result.rows_aggregated, result.rows_quarantined, status, error))
    return result
