"""`cspbridge sandbox`: run the loopback sandbox servers in the foreground."""

from __future__ import annotations

from pathlib import Path

import click

from cli.foreground import wait_for_ctrl_c


@click.group(invoke_without_command=True)
@click.option("--state-dir", default="var/sandbox", show_default=True, type=click.Path(path_type=Path))
@click.pass_context
def sandbox(ctx: click.Context, state_dir: Path) -> None:
    """Start every sandbox server on its default 127.0.0.1 port (Ctrl+C stops them)."""
    if ctx.invoked_subcommand is not None:
        return
    from sandbox.registry import start_all

    servers = start_all(state_dir)
    for name, server in servers.items():
        click.echo(f"{name:16} {server.url}")
    click.echo("sandboxes running; Ctrl+C to stop")
    wait_for_ctrl_c()
    for server in servers.values():
        server.stop()


@sandbox.command()
@click.option("--customers", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--seed", "seed_value", default=1, show_default=True, type=int)
@click.option("--state-dir", default="var/sandbox", show_default=True, type=click.Path(path_type=Path))
def seed(customers: int, seed_value: int, state_dir: Path) -> None:
    """Generate a deterministic partner (customers, subscriptions, usage, invoices) for the sandboxes."""
    from sandbox.partnercenter.seed import seed_to_dir

    summary = seed_to_dir(state_dir / "partnercenter", customers=customers, seed=seed_value, progress=True)
    for key, value in summary.items():
        click.echo(f"{key:24} {value}")
