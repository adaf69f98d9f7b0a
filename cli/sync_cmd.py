"""`cspbridge sync <job>`: run a sync job now, against the configured Dataverse and providers."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click


def _run(name: str, job: Callable[..., dict[str, Any]], unit: str) -> dict[str, Any]:
    from tqdm import tqdm

    with tqdm(desc=name, unit=unit, leave=True) as bar:
        result = job(progress=bar.update)
    click.echo(json.dumps({k: v for k, v in result.items() if k != "errors"}, default=str, sort_keys=True))
    for error in result.get("errors", [])[:20]:
        click.echo(f"  error: {error}", err=True)
    return result


def _jobs() -> dict[str, tuple[Callable[..., dict[str, Any]], str]]:
    from jobs import sync as jobs

    # The catalog runs last: it brings in the products synced subscriptions use (sync.catalog_selection)
    # and gives subscriptions found before their product was in the catalog its price.
    return {"accounts": (jobs.accounts, "customers"), "subscriptions": (jobs.subscriptions, "accounts"),
            "catalog": (jobs.catalog, "markets")}


@click.group()
def sync() -> None:
    """Catalog, provider account and subscription sync (each records its run in the Sync Runs table)."""


@sync.command()
@click.option("--everything", is_flag=True,
              help="Import the whole price sheet, not just products in use plus the allow-list (cspbridge catalog select).")
def catalog(everything: bool) -> None:
    """Price sheet -> products, units, price lists and price list items (only the differences),
    one market at a time."""
    job, unit = _jobs()["catalog"]
    result = _run("catalog", lambda **kw: job(everything=everything, **kw), unit)
    counts = result.get("counts", {})
    if not everything and not counts.get("itemsSelected") and counts.get("productsNotSelected"):
        click.echo("nothing selected: the catalog brings in the products synced subscriptions use plus the "
                   "allow-list (cspbridge catalog select add ...); --everything imports the whole sheet", err=True)


@sync.command()
def accounts() -> None:
    """Provider customers -> Provider Accounts, auto-mapped by domain."""
    job, unit = _jobs()["accounts"]
    result = _run("accounts", job, unit)
    if result.get("unmapped"):
        click.echo(f"{len(result['unmapped'])} unmapped provider account(s): see the "
                   f"'Unmapped Provider Accounts' view", err=True)


@sync.command()
def subscriptions() -> None:
    """Provider subscriptions -> Subscriptions, change logs for every difference, drift flagged."""
    job, unit = _jobs()["subscriptions"]
    _run("subscriptions", job, unit)


@sync.command(name="all")
def all_jobs() -> None:
    """accounts, subscriptions, then the catalog (which brings in what the subscriptions use)."""
    failed = False
    for name, (job, unit) in _jobs().items():
        result = _run(name, job, unit)
        failed = failed or result.get("status") == "Failed"
    if failed:
        raise SystemExit(1)
