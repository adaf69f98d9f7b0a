"""`cspbridge accounting export|journal|post-invoice`: push invoices to the accounting system
(or write them to a file), the deferred revenue journal, and the post-invoice jobs."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import click

from cli.params import DATE
from shared.errors import IntegrationError

TARGETS = ("quickbooks", "businesscentral", "csv", "json")
OUTPUT = click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                      help="Write the file here instead of standard output.")


def _write(data: bytes, out: Path | None) -> None:
    if out is None:
        click.echo(data.decode("utf-8"), nl=False)
    else:
        out.write_bytes(data)
        click.echo(f"wrote {out}", err=True)


def _month(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value or ""):
        raise click.BadParameter(f"{value!r} is not a month (YYYY-MM)")
    return value


_KINDS = ("already sent", "already synced", "will retry", "skipped", "queued", "synced", "failed", "succeeded")


def _kind(outcome: str) -> str:
    """The outcome's category for the summary ("Queued to a@b on 2026-03-01" -> "queued")."""
    text = outcome.lower()
    return next((k for k in _KINDS if text.startswith(k)), text.split(" ", 1)[0].rstrip(":"))


@click.group()
def accounting() -> None:
    """Accounting export: invoices, deferred revenue journal, post-invoice jobs."""


@accounting.command()
@click.option("--target", type=click.Choice(TARGETS), default=None,
              help="Where to: a connector, or a csv/json file. Default: CSPB_ACCOUNTING_TARGET.")
@click.option("--invoice", "invoices", multiple=True,
              help="Invoice id or number (repeatable). Default: every invoice not yet synced (connectors) or "
                   "every invoice (files).")
@OUTPUT
def export(target: str | None, invoices: tuple[str, ...], output: Path | None) -> None:
    """Push invoices with their payments (marked Synced/Failed on each), or write them to a file."""
    from accounting import service
    from dataverse.client import client_or_default
    from payments.invoice_records import resolve_invoice_id
    from shared.config import get_settings

    name = target or get_settings().accounting_target
    if name == "none":
        raise click.ClickException("no accounting target is configured; pass --target")
    try:
        dv = client_or_default()
        ids = [resolve_invoice_id(dv, ref) for ref in invoices] or None
        if name in ("csv", "json"):
            from accounting.invoice_file import render_invoices
            from dataverse.stores import invoices as invoices_store

            if ids is None:
                ids = invoices_store.all_ids(dv)
            _write(render_invoices(dv, ids, name), output)
            return
        report = service.export_invoices(ids, target=name, dv=dv)
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"target": name, **report.as_dict()}))
    if report.failed:
        raise SystemExit(1)


@accounting.command()
@click.option("--month", required=True, callback=_month, help="Month whose revenue is released, YYYY-MM.")
@click.option("--format", "fmt", type=click.Choice(("csv", "json")), default="csv", show_default=True)
@click.option("--push", "push_to", type=click.Choice(("quickbooks", "businesscentral")), default=None,
              help="Post the journal to this system instead of writing a file (rows are then marked exported).")
@OUTPUT
def journal(month: str, fmt: str, push_to: str | None, output: Path | None) -> None:
    """The month's deferred revenue journal (debit deferred revenue, credit revenue)."""
    from accounting import service

    try:
        result = service.export_deferred_revenue(month, target=push_to, dv=None, fmt=fmt)
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    if isinstance(result, bytes):
        _write(result, output)
    else:
        click.echo(json.dumps({"month": month, "target": push_to, "entries": result}))


@accounting.command("post-invoice")
@click.option("--job", "jobs", multiple=True, type=click.Choice(("send", "charge", "accounting")),
              help="Only these jobs (repeatable). Default: all three.")
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="The day the run stamps on what it sends and charges, YYYY-MM-DD (default: today, UTC).")
def post_invoice(jobs: tuple[str, ...], as_of: date | None) -> None:
    """Run pending post-invoice jobs (send, charge, accounting push); each outcome lands on its invoice."""
    from tqdm import tqdm

    from accounting.post_invoice import JOBS, run_pending

    bar = tqdm(desc="invoices", unit="invoice", leave=True)
    try:
        results = run_pending(as_of or datetime.now(UTC).date(), jobs=jobs or JOBS, progress=bar.update, on_planned=lambda n: setattr(bar, "total", n))
    except IntegrationError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        bar.close()
    counts: dict[str, dict[str, int]] = {}
    for outcome in results.values():
        for job, text in outcome.items():
            kind = _kind(text)
            counts.setdefault(job, {}).setdefault(kind, 0)
            counts[job][kind] += 1
    click.echo(json.dumps({"invoices": len(results), "outcomes": counts}))
    problems = [(i, o) for i, o in results.items()
                if "error" in o or any(_kind(v) in ("failed", "will retry") for v in o.values())]
    for invoice_id, outcome in problems[:20]:
        click.echo(f"  {invoice_id}: {outcome}", err=True)
