"""`cspbridge recon ...`: import a downloaded recon file, aggregate one locally, ingest a period
from Partner Center, build the margin report. Thin: parse options, call recon.*, print the result."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cli.params import MONTH
from shared.errors import IntegrationError

if TYPE_CHECKING:
    from dataverse.client import DataverseClient
    from shared.blobstore import BlobStore


def _clients(dataverse: bool) -> tuple[BlobStore, DataverseClient | None]:
    from shared.blobstore import blob_store_from_settings

    dv: DataverseClient | None = None
    if dataverse:
        from dataverse.client import DataverseClient

        dv = DataverseClient.from_settings()
    return blob_store_from_settings(), dv


def _fail(exc: IntegrationError) -> None:
    click.echo(f"error: {exc}", err=True)
    sys.exit(2)


@click.group()
def recon() -> None:
    """Reconciliation: recon files, usage summaries, margin report."""


@recon.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--period", type=MONTH, help="YYYY-MM folder to store it under (default: the month most rows fall in).")
@click.option("--dataverse/--no-dataverse", default=True, show_default=True,
              help="Write the Usage Summary and Reconciliation File rows to Dataverse.")
def import_cmd(file: Path, period: str | None, dataverse: bool) -> None:
    """Import a recon CSV (or JSON lines) downloaded from Partner Center."""
    from recon.import_csv import import_file

    store, dv = _clients(dataverse)
    try:
        result = import_file(file, store=store, dv=dv, period=period)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(json.dumps({
        "kind": result.kind, "period": result.period, "currency": result.currency, "blob": result.blob_path,
        "sha256": result.checksum, "rows_read": result.rows_read, "rows_aggregated": result.rows_aggregated,
        "rows_quarantined": result.rows_quarantined, "quarantine": result.quarantine_blob,
        "usage_summaries": len(result.summaries), "provider_lines": result.provider_line_count,
        "usage_reopened_for_true_up": result.reopened,
    }, indent=2))


@recon.command("aggregate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--quarantine", type=click.Path(dir_okay=False, path_type=Path), help="Where bad rows go.")
def aggregate_cmd(file: Path, quarantine: Path | None) -> None:
    """Aggregate a daily-rated usage file locally and print totals (nothing is stored)."""
    import time

    from recon.aggregate import aggregate_usage

    start = time.perf_counter()
    try:
        result = aggregate_usage(file, quarantine_path=quarantine)
    except IntegrationError as exc:
        _fail(exc)
    seconds = time.perf_counter() - start
    click.echo(json.dumps({
        "rows_read": result.rows_read, "rows_aggregated": result.rows_aggregated,
        "rows_quarantined": result.rows_quarantined, "groups": len(result.groups),
        "quarantine": str(result.quarantine_path) if result.quarantine_path else None,
        "cost_by_currency": {k: str(v) for k, v in sorted(result.totals_by_currency().items())},
        "seconds": round(seconds, 3), "rows_per_second": int(result.rows_read / seconds) if seconds else None,
    }, indent=2))


@recon.command("report")
@click.option("--period", required=True, type=MONTH, help="YYYY-MM")
@click.option("--invoice", "invoice_files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Invoice recon file(s) for the period.")
@click.option("--usage", "usage_files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Daily-rated usage file(s) for the period.")
@click.option("--dataverse/--no-dataverse", default=True, show_default=True,
              help="Match against Dynamics subscriptions, invoices and provider accounts.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Also write the files here.")
@click.option("--language", type=click.Choice(["en", "es"]), default="en", show_default=True,
              help="Language of report.html.")
def report_cmd(period: str, invoice_files: tuple[Path, ...], usage_files: tuple[Path, ...], dataverse: bool,
               out: Path | None, language: str) -> None:
    """Reconcile provider charges against Dynamics and write the margin report (CSV + HTML)."""
    from recon.run import report_from_files

    store, dv = _clients(dataverse)
    try:
        paths = report_from_files(period, invoice_files=list(invoice_files), usage_files=list(usage_files),
                                  store=store, dv=dv, out_dir=out, language=language)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(json.dumps(paths, indent=2))


@recon.command("ingest")
@click.option("--period", required=True, type=MONTH, help="YYYY-MM: billed invoices of this month plus its unbilled usage.")
@click.option("--dataverse/--no-dataverse", default=True, show_default=True)
def ingest_cmd(period: str, dataverse: bool) -> None:
    """Fetch the period's recon exports from Partner Center (Graph) into Blob Storage and aggregate them."""
    from recon.ingest import ingest_period

    store, dv = _clients(dataverse)
    try:
        outcome = ingest_period(period, store=store, dv=dv, progress=True)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(json.dumps(outcome.as_dict(), indent=2))


@recon.command("run")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day to run as (default: today, UTC): last month and this month are ingested.")
def run_cmd(day: object) -> None:
    """What the recon timer runs: ingest last month and this month (invoices, billed and unbilled usage),
    then last month's report against Dynamics, usage included."""
    from datetime import UTC, datetime

    from jobs.recon import scheduled

    when = day.date() if isinstance(day, datetime) else datetime.now(UTC).date()
    try:
        outcomes = scheduled(when)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(json.dumps([{**o.as_dict(), "invoice_totals": [
        {"invoice": t.invoice_id, "currency": t.currency, "invoice_total": str(t.invoice_total),
         "lines_total": str(t.lines_total)} for t in o.invoice_totals]} for o in outcomes], indent=2))
