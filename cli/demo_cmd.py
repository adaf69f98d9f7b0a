"""`cspbridge demo`: a full sync + billing cycle against the built-in sandboxes.

Starts every sandbox in this process on free loopback ports, points the settings at them, runs
each step of the back office in order and prints a summary. Files land in --out. A failing step
is reported with its error and the run goes on, so one broken area shows instead of hiding the
rest; the exit code is non-zero if any step failed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import click

from cli.demo_steps import STEPS
from cli.foreground import wait_for_ctrl_c


@dataclass
class DemoContext:
    out_dir: Path
    state_dir: Path
    servers: dict[str, Any]
    as_of: date = field(default_factory=date.today)
    # The Partner Center seed's meta.json: periods, CRM accounts, planted discrepancies, rates.
    seed: dict[str, Any] = field(default_factory=dict)
    # Steps hand results to later steps through this dict (e.g. the billing run date).
    shared: dict[str, Any] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return str(self.servers[name].url)


@dataclass
class StepResult:
    name: str
    ok: bool
    seconds: float
    lines: list[str]


def _point_settings_at(servers: dict[str, Any], out_dir: Path) -> None:
    from shared.config import reset_settings

    urls = {
        "dataverse": ["CSPB_DATAVERSE_URL"],
        "partnercenter": ["CSPB_PARTNER_CENTER_URL", "CSPB_PARTNER_API_URL", "CSPB_GRAPH_URL"],
        "pax8": ["CSPB_PAX8_URL"],
        "tdsynnex": ["CSPB_TDSYNNEX_URL"],
        "stripe": ["CSPB_STRIPE_API_BASE"],
        "quickbooks": ["CSPB_QUICKBOOKS_URL"],
        "businesscentral": ["CSPB_BUSINESS_CENTRAL_URL"],
    }
    os.environ["CSPB_MODE"] = "sandbox"
    for name, keys in urls.items():
        if name in servers:
            for key in keys:
                os.environ[key] = servers[name].url
    if "authorizenet" in servers:
        os.environ["CSPB_AUTHORIZENET_URL"] = servers["authorizenet"].url + "/xml/v1/request.api"
    os.environ["CSPB_LOCAL_BLOB_ROOT"] = str(out_dir / "blobs")
    mail = getattr(servers.get("mail"), "app", None)
    if mail is not None:
        # Invoices leave through the mail sandbox's real SMTP server; the demo reads them back.
        os.environ["CSPB_MAIL_BACKEND"] = "smtp"
        os.environ["CSPB_SMTP_HOST"] = "127.0.0.1"
        os.environ["CSPB_SMTP_PORT"] = str(mail.sandbox.smtp_port)
        os.environ.setdefault("CSPB_MAIL_FROM", "billing@fabrikam-cloud.example")
        os.environ.setdefault("CSPB_MAIL_FROM_NAME", "Fabrikam Cloud")
    # The demo partner's own details, so the invoices it sends name their seller.
    os.environ.setdefault("CSPB_SELLER_NAME", "Fabrikam Cloud Ltd")
    os.environ.setdefault("CSPB_SELLER_ADDRESS", "1 Harbour Street|Dublin D02 X285|IE")
    os.environ.setdefault("CSPB_SELLER_TAX_ID", "IE1234567T")
    os.environ.setdefault("CSPB_WEBHOOK_KEY", "demo-webhook-key")
    os.environ.setdefault("CSPB_PORTAL_SESSION_SECRET", "demo-portal-session-secret")
    reset_settings()


def _run_step(name: str, fn: Callable[[DemoContext], list[str]], ctx: DemoContext) -> StepResult:
    started = time.perf_counter()
    try:
        lines = fn(ctx)
        ok = True
    except Exception as exc:  # noqa: BLE001 - report and go on: the summary must show every area
        lines = [f"FAILED: {type(exc).__name__}: {exc}"]
        (ctx.out_dir / "errors").mkdir(parents=True, exist_ok=True)
        (ctx.out_dir / "errors" / f"{name}.txt").write_text(traceback.format_exc())
        ok = False
    return StepResult(name, ok, time.perf_counter() - started, lines)


@click.command()
@click.option("--out", "out_dir", default="demo-output", show_default=True, type=click.Path(path_type=Path))
@click.option("--serve/--no-serve", default=False, help="Keep the sandboxes and portal running afterwards.")
@click.option("--only", multiple=True, help="Run only these steps (repeatable).")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day the demo runs on, YYYY-MM-DD (default: today). The sandbox is seeded around it: "
                   "last month is invoiced, this month is unbilled.")
@click.option("--seed", "seed_value", default=1, show_default=True, type=click.IntRange(min=0),
              help="Same seed, same numbers.")
@click.option("--customers", default=12, show_default=True, type=click.IntRange(min=1, max=5000))
def demo(out_dir: Path, serve: bool, only: tuple[str, ...], as_of: Any, seed_value: int, customers: int) -> None:
    """Run a full sync and billing cycle against the built-in sandboxes and print a summary."""
    from sandbox.partnercenter.seed import seed_to_dir
    from sandbox.registry import start_all

    unknown = sorted(set(only) - {name for name, _ in STEPS})
    if unknown:
        raise click.BadParameter(f"no demo step named {', '.join(map(repr, unknown))}; steps: "
                                 f"{', '.join(name for name, _ in STEPS)}", param_hint="--only")
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / "sandbox-state").exists():
        # The folder is emptied first: never a folder that is not an earlier demo's output.
        raise click.BadParameter(f"{out_dir} exists and is not an earlier demo's output", param_hint="--out")
    day = as_of.date() if as_of is not None else date.today()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    state_dir = out_dir / "sandbox-state"
    click.echo(f"seeding the Partner Center sandbox: {customers} customers, seed {seed_value}, as of {day} ...")
    seeded = seed_to_dir(state_dir / "partnercenter", customers, seed_value, usage_rows=customers * 250, as_of=day,
                          plant=True)
    meta = json.loads((state_dir / "partnercenter" / "meta.json").read_text(encoding="utf-8"))
    click.echo(f"  billed {meta['billed_period']}, unbilled {meta['unbilled_period']}: {seeded['invoices']} invoices, "
               f"{seeded.get('recon_lines', 0)} recon lines, {seeded.get('usage_rows_billed', 0)} billed usage rows, "
               f"{len(meta['planted'])} planted discrepancies")
    click.echo("starting sandboxes ...")
    servers = start_all(state_dir, ephemeral_ports=True)
    for name, server in servers.items():
        click.echo(f"  {name:16} {server.url}")
    _point_settings_at(servers, out_dir)
    ctx = DemoContext(out_dir=out_dir, state_dir=state_dir, servers=servers, as_of=day, seed=meta)
    (out_dir / "planted.json").write_text(json.dumps(meta["planted"], indent=1), encoding="utf-8")

    results: list[StepResult] = []
    for name, fn in STEPS:
        if only and name not in only:
            continue
        click.echo(f"\n== {name} ==")
        result = _run_step(name, fn, ctx)
        for line in result.lines:
            click.echo(f"  {line}")
        results.append(result)

    click.echo("\n== summary ==")
    for result in results:
        mark = "ok  " if result.ok else "FAIL"
        click.echo(f"  {mark} {result.name:28} {result.seconds:6.1f}s")
    click.echo(f"\nfiles written under {out_dir.resolve()}")
    failed = [r.name for r in results if not r.ok]
    if serve:
        click.echo("sandboxes and portal keep running; Ctrl+C to stop")
        wait_for_ctrl_c()
    for server in servers.values():
        server.stop()
    if failed:
        raise click.ClickException(f"{len(failed)} step(s) failed: {', '.join(failed)} (tracebacks in {out_dir}/errors)")
