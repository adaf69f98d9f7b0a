"""`cspbridge sandbox`: run the loopback sandbox servers in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.foreground import wait_for_ctrl_c


@click.group(invoke_without_command=True)
@click.option("--state-dir", default="var/sandbox", show_default=True, type=click.Path(path_type=Path))
@click.pass_context
def sandbox(ctx: click.Context, state_dir: Path) -> None:
    """Start every sandbox server on its default 127.0.0.1 port (Ctrl+C stops them)."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import date

    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.partnercenter.state import DEFAULT_CUSTOMERS, DEFAULT_SEED, DEFAULT_USAGE_ROWS
    from sandbox.registry import start_all

    if not (state_dir / "partnercenter" / "meta.json").exists():
        # A first start gets a small partner around today, so last month's invoices exist.
        seed_to_dir(state_dir / "partnercenter", DEFAULT_CUSTOMERS, DEFAULT_SEED, usage_rows=DEFAULT_USAGE_ROWS,
                    as_of=date.today())
    servers = start_all(state_dir)
    for name, server in servers.items():
        click.echo(f"{name:16} {server.url}")
        smtp_port = getattr(getattr(server.app, "sandbox", None), "smtp_port", None)
        if smtp_port:
            click.echo(f"{'mail (smtp)':16} smtp://127.0.0.1:{smtp_port}")
    click.echo("sandboxes running; Ctrl+C to stop")
    wait_for_ctrl_c()
    for server in servers.values():
        server.stop()


@sandbox.command()
@click.option("--customers", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", "seed_value", default=1, show_default=True, type=int)
@click.option("--state-dir", default="var/sandbox", show_default=True, type=click.Path(path_type=Path))
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="YYYY-MM-DD the data is built around (default: today): last month invoiced, this month unbilled.")
@click.option("--usage-rows", type=click.IntRange(min=0), default=None,
              help="Billed daily-rated usage rows (default: 1,000 per customer).")
@click.option("--price-rows", type=click.IntRange(min=0), default=0, show_default=True,
              help="Rows per market price sheet, shaped like Microsoft's (50000 is real size: tiers, next month's "
                   "prices, empty fields); 0 keeps the sandbox SKUs only.")
def seed(customers: int, seed_value: int, state_dir: Path, as_of: Any, usage_rows: int | None,
         price_rows: int) -> None:
    """Generate a deterministic partner (customers, subscriptions, usage, invoices) for the sandboxes.

    A Partner Center sandbox already serving this --state-dir picks the new data up on its next
    request; no restart is needed."""
    from datetime import date

    from sandbox.partnercenter.seed import seed_to_dir

    day = as_of.date() if as_of is not None else date.today()
    summary = seed_to_dir(state_dir / "partnercenter", customers=customers, seed=seed_value, progress=True,
                          usage_rows=usage_rows, as_of=day, plant=True, price_rows=price_rows)
    for key, value in summary.items():
        click.echo(f"{key:24} {value}")
    click.echo(f"as of {day}; a running sandbox on {state_dir} serves this seed from its next request (no restart)")


@sandbox.command("revise-usage")
@click.option("--state-dir", default="var/sandbox", show_default=True, type=click.Path(path_type=Path))
@click.option("--percent", default="8", show_default=True,
              help="How far the revised meters move: one meter per customer up, one down, and on each invoice "
                   "one meter withdrawn in full.")
def revise_usage(state_dir: Path, percent: str) -> None:
    """Microsoft revises the billed month's usage after its invoice (late usage, corrections).

    The next `cspbridge recon run` replaces that month's usage summaries and reports the delta
    against what the customers were invoiced; the next bill run trues it up. A running sandbox on
    this --state-dir serves the revised files from its next request."""
    from decimal import Decimal, InvalidOperation

    from sandbox.partnercenter.revise import revise_billed_usage

    if not (state_dir / "partnercenter" / "meta.json").exists():
        raise click.ClickException(f"no seeded Partner Center sandbox in {state_dir}; run `cspbridge sandbox seed` first")
    try:
        record = revise_billed_usage(state_dir / "partnercenter", percent=Decimal(percent))
    except (InvalidOperation, ValueError):
        raise click.BadParameter(f"must be a number between 0 and 100, got {percent!r}", param_hint="--percent") from None
    for change in record["changes"]:
        click.echo(f"{change['customer']:32} {change['meter_category']:20} {change['period']} "
                   f"{Decimal(change['before']):>14.2f} -> {Decimal(change['after']):>14.2f} {change['currency']}")
    click.echo(f"revision {record['revision']}: {len(record['changes'])} meter(s) revised; "
               "`cspbridge recon run` picks them up")
