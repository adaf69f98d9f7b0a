"""`cspbridge doctor`: a checklist of every setting and grant it can reach, with the fix for each failure."""

from __future__ import annotations

import sys

import click


@click.command()
def doctor() -> None:
    """Check settings, tokens per audience, Key Vault read/write, a Service Bus send, a Blob write, Dataverse
    WhoAmI and the application user's role, Partner Center and Graph. Exits 1 if anything failed."""
    from cli.doctor import Doctor, render
    from shared.config import ConfigError, Settings

    try:
        # Not get_settings(): that stops at the first bad setting; the doctor lists them all and goes on.
        settings = Settings.from_env()
    except ConfigError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"CSPBridge doctor (CSPB_MODE={settings.mode})")
    results = Doctor(settings).run()
    click.echo(render(results))
    if any(not check.ok for check in results):
        sys.exit(1)
