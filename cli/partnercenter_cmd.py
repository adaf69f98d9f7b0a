"""`cspbridge partnercenter consent`: the one-time App+User consent of the secure application model."""

from __future__ import annotations

import click


@click.group()
def partnercenter() -> None:
    """Partner Center sign-in for new-commerce writes, price sheets and FX rates."""


@partnercenter.command()
@click.option("--device-code/--browser", "device_code", default=True, show_default=True,
              help="Device code (any shell; the app registration allows public client flows), or auth code with "
                   "a redirect to http://localhost:PORT (the web app's secret or certificate).")
@click.option("--port", type=click.IntRange(0, 65535), default=8400, show_default=True,
              help="Local port for --browser's redirect (registered as http://localhost on the app).")
@click.option("--open/--no-open", "open_browser", default=True, help="Open the sign-in page (--browser only).")
@click.option("--timeout", type=click.IntRange(min=10), default=900, show_default=True,
              help="Seconds to wait for the sign-in.")
def consent(device_code: bool, port: int, open_browser: bool, timeout: int) -> None:
    """A partner admin agent signs in with MFA; the refresh token is stored in Key Vault
    (CSPB_KEY_VAULT_URL, secret CSPB_PC_REFRESH_TOKEN_SECRET_NAME) and rotated from then on."""
    from partnercenter.consent import consent_with_browser, consent_with_device_code
    from shared.config import get_settings
    from shared.errors import IntegrationError

    try:
        settings = get_settings()
        if settings.mode != "azure":
            raise click.ClickException("consent stores a real refresh token in Key Vault: run it with "
                                       "CSPB_MODE=azure (or cspbridge --mode azure) and CSPB_KEY_VAULT_URL set")
        if device_code:
            result = consent_with_device_code(settings, click.echo, timeout=timeout)
        else:
            import webbrowser

            result = consent_with_browser(settings, click.echo, port=port, timeout=timeout,
                                          open_browser=webbrowser.open if open_browser else None)
    except IntegrationError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Stored the Partner Center refresh token in Key Vault as secret {result.secret_name!r} "
               f"(consented by {result.user or 'the signed-in user'} with MFA, {result.flow.replace('_', ' ')} flow).")
