"""`cspbridge portal`: serve the customer portal on 127.0.0.1 for local use."""

from __future__ import annotations

import click

from cli.foreground import wait_for_ctrl_c


@click.command()
@click.option("--port", default=7110, show_default=True, type=click.IntRange(0, 65535))
@click.option("--memory", is_flag=True, help="Use built-in demo data in memory instead of Dataverse.")
@click.option("--seed/--no-seed", default=False, help="Write the demo customers into Dataverse first.")
def portal(port: int, memory: bool, seed: bool) -> None:
    """Serve the self-service portal (Ctrl+C stops it). Sign-in follows CSPB_MODE: sandbox shows a
    contact picker, azure uses Entra ID."""
    from dataclasses import replace

    from sandbox._server import RunningServer
    from shared.config import get_settings

    settings = get_settings()
    # The page links and cookie path follow the mount point, which here is /portal on our own port.
    settings = replace(settings, portal_base_url=f"http://127.0.0.1:{port}/portal")
    if memory:
        from portal.wiring import memory_portal

        app = memory_portal(settings)
    else:
        from dataverse.client import DataverseClient
        from portal.wiring import dataverse_portal

        dv = DataverseClient.from_settings(settings)
        if seed:
            from portal.dataverse_seed import seed_dataverse

            seed_dataverse(dv)
            click.echo("demo customers written to Dataverse")
        app = dataverse_portal(settings, dv)
    server = RunningServer(app, port).start()
    click.echo(f"portal: {server.url}/portal/  (data: {'memory' if memory else settings.dataverse_url})")
    wait_for_ctrl_c()
    server.stop()
