"""`cspbridge solution`: build the Dataverse solution zip and keep its source in line with the spec."""

from __future__ import annotations

import zipfile
from pathlib import Path

import click

from cli.params import URL


@click.group()
def solution() -> None:
    """The managed Dataverse solution (tables, webhook steps, environment variables)."""


@solution.command()
@click.option("--managed", is_flag=True, help="Build a managed solution (the default is unmanaged).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Zip to write [default: dist/CSPBridge_<version>[_managed].zip].")
@click.option("--version", "version", default=None, help="Override the solution version (e.g. 1.0.1.0).")
def pack(managed: bool, out: Path | None, version: str | None) -> None:
    """Pack solution/src into an importable solution zip."""
    from solution.pack import pack as do_pack

    try:
        path = do_pack(out, managed=managed, version=version)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--version") from None
    with zipfile.ZipFile(path) as zf:
        count = len(zf.namelist())
    click.echo(f"{path} ({'managed' if managed else 'unmanaged'}, {count} files, {path.stat().st_size} bytes)")


@solution.command()
@click.option("--check", is_flag=True, help="Only report whether solution/src matches solution/spec.py.")
def generate(check: bool) -> None:
    """Regenerate solution/src from solution/spec.py (commit the result)."""
    from solution import generate as gen

    if check:
        stale = [rel for rel, data in gen.render().items()
                 if not (gen.SRC / rel).exists() or (gen.SRC / rel).read_bytes() != data]
        for rel in stale:
            click.echo(f"stale: {rel}")
        if stale:
            raise SystemExit(1)
        click.echo("solution source matches the spec")
        return
    written = gen.write()
    click.echo(f"{len(written)} file(s) written")


@solution.command()
@click.option("--function-url", required=True, type=URL,
              help="Function app base URL (https://APP.azurewebsites.net) or the full webhook URL.")
def connect(function_url: str) -> None:
    """Point the imported solution's webhook at the function app (key from CSPB_WEBHOOK_KEY)."""
    from dataverse.client import DataverseClient
    from shared.config import get_settings
    from solution.connect import connect as do_connect

    settings = get_settings()
    result = do_connect(DataverseClient.from_settings(settings), function_url, settings.webhook_key.reveal())
    click.echo(f"webhook endpoint {'created' if result.endpoint_created else 'updated'}: {result.url}")
    click.echo(f"steps: {result.steps_present} present, {result.steps_created} created")
