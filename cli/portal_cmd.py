"""`cspbridge portal`: serve the customer portal on 127.0.0.1 for local use."""

from __future__ import annotations

import click

from cli.foreground import wait_for_ctrl_c
from sandbox.ports import PORTS


@click.group(invoke_without_command=True)
@click.option("--port", default=PORTS["portal"], show_default=True, type=click.IntRange(0, 65535))
@click.option("--memory", is_flag=True, help="Use built-in demo data in memory instead of Dataverse.")
@click.option("--seed/--no-seed", default=False, help="Write the demo customers into Dataverse first.")
@click.pass_context
def portal(ctx: click.Context, port: int, memory: bool, seed: bool) -> None:
    """Serve the self-service portal (Ctrl+C stops it). Sign-in follows CSPB_MODE: sandbox shows a
    contact picker, azure uses Entra ID. `cspbridge portal invite` makes an invitation link."""
    if ctx.invoked_subcommand is not None:
        return
    from dataclasses import replace

    from sandbox._server import RunningServer
    from shared.config import get_settings

    settings = get_settings()
    # The page links and cookie path follow the mount point, which here is /portal on our own port.
    settings = replace(settings, portal_base_url=f"http://127.0.0.1:{port}/portal")
    if memory:
        from portal.memory_payments import local_stripe
        from portal.wiring import memory_portal

        stripe = local_stripe()  # cards are typed on its hosted page; it runs in this process, on a free port
        app = memory_portal(settings, processor=stripe.processor)
        click.echo(f"payments: Stripe sandbox at {stripe.url} (test card 4242 4242 4242 4242)")
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


@portal.command()
@click.option("--email", required=True, help="The contact's e-mail address (emailaddress1) in Dynamics.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 30), help="How long the link works.")
def invite(email: str, days: int) -> None:
    """A single-use invitation link for a portal contact (a contact with a portal role on a customer
    account). The first sign-in through it binds the person's Entra tenant id + object id to the contact;
    a newer link replaces an unused older one. Prints the link and the invitation e-mail text."""
    from dataverse.client import DataverseClient
    from portal.dataverse_repo import DataverseRepository
    from portal.emails import invitation
    from portal.invitations import invite as make_link
    from shared.config import get_settings
    from shared.errors import IntegrationError

    settings = get_settings()
    try:
        repo = DataverseRepository(DataverseClient.from_settings(settings))
        contact = repo.find_contact_by_email(email)
        if contact is None:
            raise click.ClickException(f"no single portal contact with e-mail {email!r} (it needs a portal role and "
                                       "a parent account)")
        link = make_link(repo, contact.id, settings.portal_base_url, days=days)
        account = repo.get_account(contact.account_id)
        contracts = repo.list_contracts(contact.account_id)
    except IntegrationError as exc:
        raise click.ClickException(exc.message) from None
    mail = invitation(contact, account.name if account else "", link, contracts[0].language if contracts else "en")
    click.echo(link)
    click.echo(f"\nTo: {mail.to}\nSubject: {mail.subject}\n\n{mail.text}")
