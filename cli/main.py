"""`cspbridge` console command. Each subcommand group lives in its own module under cli/ and is
imported only when used, so `cspbridge --help` stays fast and one broken area can't hide the rest."""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "sandbox": "cli.sandbox_cmd:sandbox",
    "solution": "cli.solution_cmd:solution",
    "sync": "cli.sync_cmd:sync",
    "bill": "cli.bill_cmd:bill",
    "recon": "cli.recon_cmd:recon",
    "assess": "cli.assess_cmd:assess",
    "portal": "cli.portal_cmd:portal",
    "demo": "cli.demo_cmd:demo",
    "pay": "cli.pay_cmd:pay",
    "accounting": "cli.accounting_cmd:accounting",
    "partnercenter": "cli.partnercenter_cmd:partnercenter",
    "doctor": "cli.doctor_cmd:doctor",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        return getattr(module, attr)


@click.group(cls=LazyGroup)
@click.option("--mode", type=click.Choice(["sandbox", "azure"]), default=None,
              help="sandbox: the local sandboxes; azure: the real services. Default: CSPB_MODE, else sandbox "
                   "on a developer machine (never inside Azure).")
def cli(mode: str | None) -> None:
    """CSPBridge: CSP back office for Dynamics 365."""
    choose_mode(mode)


def choose_mode(mode: str | None, env: dict[str, str] | None = None) -> str:
    """The CLI is the one place that picks sandbox mode for the user, and it says so: a local command with
    no CSPB_MODE runs against the sandboxes (what `make demo` on a fresh machine needs). Inside Azure
    (WEBSITE_SITE_NAME set) nothing is chosen for you; shared.config refuses to run there without azure."""
    import os

    source = os.environ if env is None else env
    if mode:
        source["CSPB_MODE"] = mode
    elif not source.get("CSPB_MODE") and not source.get("WEBSITE_SITE_NAME"):
        source["CSPB_MODE"] = "sandbox"
        click.echo("CSPB_MODE is not set: using sandbox mode (the local sandboxes on 127.0.0.1); "
                   "set CSPB_MODE=azure or pass --mode azure for the real services", err=True)
    from shared.config import reset_settings

    reset_settings()
    return source.get("CSPB_MODE", "")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
