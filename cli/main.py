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
def cli() -> None:
    """CSPBridge: CSP back office for Dynamics 365."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
