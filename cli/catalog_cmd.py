"""`cspbridge catalog`: what enters the Dynamics catalog, and next month's prices ahead."""

from __future__ import annotations

import json
from pathlib import Path

import click

from shared.errors import IntegrationError


def _fail(exc: IntegrationError) -> None:
    click.echo(f"error: {exc.message}", err=True)
    raise SystemExit(1)


@click.group()
def catalog() -> None:
    """The catalog selection (allow-list) and the price-change preview."""


@catalog.group()
def select() -> None:
    """The allow-list: products synced subscriptions use come in anyway; add what else the partner sells."""


KINDS = click.Choice(["product", "sku", "family", "publisher", "everything"], case_sensitive=False)


@select.command("add")
@click.argument("kind", type=KINDS)
@click.argument("value", required=False, default="")
def select_add(kind: str, value: str) -> None:
    """Add KIND VALUE: product CFQ7TTC0LH18 | sku CFQ7TTC0LH18:0001 | family "Microsoft 365" |
    publisher "Microsoft Corporation" | everything (import the whole price sheet)."""
    from dataverse import catalog_repo
    from dataverse.client import client_or_default
    from sync.catalog_selection import parse_entry

    try:
        entry = parse_entry(kind, value)
        catalog_repo.add_selection(client_or_default(), entry)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(f"added {entry.kind.name.lower()} {entry.value}".rstrip() + "; the next catalog sync brings it in")


@select.command("remove")
@click.argument("kind", type=KINDS)
@click.argument("value", required=False, default="")
def select_remove(kind: str, value: str) -> None:
    """Remove an allow-list entry (items already in Dynamics stay)."""
    from dataverse import catalog_repo
    from dataverse.client import client_or_default
    from sync.catalog_selection import parse_entry

    try:
        removed = catalog_repo.remove_selection(client_or_default(), parse_entry(kind, value))
    except IntegrationError as exc:
        _fail(exc)
    if not removed:
        click.echo(f"no {kind} {value} on the allow-list", err=True)
        raise SystemExit(1)
    click.echo(f"removed {kind} {value}".rstrip())


@select.command("list")
def select_list() -> None:
    """The allow-list, and how many SKUs synced subscriptions bring in."""
    from dataverse import catalog_repo
    from dataverse.client import client_or_default
    from sync.catalog_selection import load

    try:
        dv = client_or_default()
        entries = catalog_repo.selection_entries(dv)
        selection = load(dv, catalog_repo.subscription_uses(dv))
    except IntegrationError as exc:
        _fail(exc)
    for e in sorted(entries, key=lambda e: (e.kind, e.value)):
        click.echo(f"{e.kind.name.lower():10} {e.value}")
    click.echo(f"selection: {selection.describe()}")


@catalog.command()
@click.option("--month", help="YYYY-MM to compare with today's prices (default: next month).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("price-preview"),
              show_default=True, help="Folder for report.html, price-changes.csv and customer-impact.csv.")
@click.option("--everything", is_flag=True, help="Compare the whole sheet, not just the partner's catalog.")
def preview(month: str | None, out_dir: Path, everything: bool) -> None:
    """Next month's prices against the ones in force: items added, changed, removed, and the margin
    impact per customer at current markups (HTML with charts, and CSV)."""
    import re

    from jobs import sync as jobs

    if month and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        click.echo(f"error: --month must be YYYY-MM, not {month!r}", err=True)
        raise SystemExit(2)
    try:
        result = jobs.price_preview(month=month.replace("-", "") if month else None, out_dir=out_dir,
                                    everything=everything)
    except IntegrationError as exc:
        _fail(exc)
    click.echo(json.dumps(result, indent=2, default=str))
