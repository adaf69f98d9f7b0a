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
    from sync import jobs

    return {"catalog": (jobs.catalog, "rows"), "accounts": (jobs.accounts, "customers"),
            "subscriptions": (jobs.subscriptions, "accounts")}


@click.group()
def sync() -> None:
    """Catalog, provider account and subscription sync (each writes a cspb_syncrun row)."""


@sync.command()
def catalog() -> None:
    """Price sheet -> products, units, price lists and price list items (only the differences)."""
    job, unit = _jobs()["catalog"]
    _run("catalog", job, unit)


@sync.command()
def accounts() -> None:
    """Provider customers -> cspb_provideraccount, auto-mapped by domain."""
    job, unit = _jobs()["accounts"]
    result = _run("accounts", job, unit)
    if result.get("unmapped"):
        click.echo(f"{len(result['unmapped'])} unmapped provider account(s): see the "
                   f"'Unmapped Provider Accounts' view", err=True)


@sync.command()
def subscriptions() -> None:
    """Provider subscriptions -> cspb_subscription, change logs for every difference, drift flagged."""
    job, unit = _jobs()["subscriptions"]
    _run("subscriptions", job, unit)


@sync.command(name="all")
def all_jobs() -> None:
    """catalog, accounts, then subscriptions."""
    failed = False
    for name, (job, unit) in _jobs().items():
        result = _run(name, job, unit)
        failed = failed or result.get("status") == "Failed"
    if failed:
        raise SystemExit(1)
