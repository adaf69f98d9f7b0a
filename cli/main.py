"""`cspbridge` console command. Each subcommand group lives in its own module under cli/ and is
imported only when used, so `cspbridge --help` stays fast and one broken area can't hide the rest.

`main` is the one place errors end: a usage mistake, a refused request or a bug all become one
line on stderr and a non-zero exit (2 for usage, 1 otherwise), never a traceback
(set CSPB_DEBUG=1 to see one)."""

from __future__ import annotations

import importlib
import os
import sys

import click

# name -> "module:attribute" of a click command or group
SUBCOMMANDS: dict[str, str] = {
    "sandbox": "cli.sandbox_cmd:sandbox",
    "solution": "cli.solution_cmd:solution",
    "sync": "cli.sync_cmd:sync",
    "catalog": "cli.catalog_cmd:catalog",
    "bill": "cli.bill_cmd:bill",
    "recon": "cli.recon_cmd:recon",
    "assess": "cli.assess_cmd:assess",
    "portal": "cli.portal_cmd:portal",
    "demo": "cli.demo_cmd:demo",
    "pay": "cli.pay_cmd:pay",
    "accounting": "cli.accounting_cmd:accounting",
    "inbox": "cli.inbox_cmd:inbox",
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
        command: click.Command = getattr(module, attr)
        return command


@click.group(cls=LazyGroup)
@click.option("--mode", type=click.Choice(["sandbox", "azure"]), default=None,
              help="sandbox: the local sandboxes; azure: the real services. Default: CSPB_MODE, else sandbox "
                   "on a developer machine (never inside Azure).")
def cli(mode: str | None) -> None:
    """CSPBridge: CSP back office for Dynamics 365."""
    choose_mode(mode)
    from shared.config import get_settings
    from shared.logging import configure_json_logging

    # Settings first: they register the secret values the log redaction masks. Bad settings are
    # reported by the command that reads them (one line), not here, so `--help` still works.
    try:
        get_settings()
    except Exception:  # noqa: BLE001
        pass
    configure_json_logging((os.environ.get("CSPB_LOG_LEVEL") or "WARNING").upper())


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


def _one_line(text: str) -> str:
    from shared.logging import redact

    return " ".join(redact(str(text)).split())[:2000]


def run(args: list[str] | None = None) -> int:
    """Run the command and return its exit code (main() exits with it; tests call this)."""
    from shared.errors import IntegrationError

    debug = os.environ.get("CSPB_DEBUG", "").lower() in ("1", "true", "yes")
    try:
        result = cli.main(args=args, prog_name="cspbridge", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.UsageError as exc:
        hint = f" (see `{exc.ctx.command_path} --help`)" if exc.ctx is not None else ""
        click.echo(f"error: {_one_line(exc.format_message())}{hint}", err=True)
        return 2
    except click.ClickException as exc:
        click.echo(f"error: {_one_line(exc.format_message())}", err=True)
        return exc.exit_code or 1
    except SystemExit as exc:
        code = exc.code
        if code is None or isinstance(code, int):
            return int(code or 0)
        click.echo(f"error: {_one_line(str(code))}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except IntegrationError as exc:
        if debug:
            raise
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        return 1
    except OSError as exc:
        if debug:
            raise
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        click.echo(f"error: {_one_line(exc.strerror or str(exc))}{where}", err=True)
        return 1
    except Exception as exc:  # noqa: BLE001 - the one top-level handler: a bug is still one line
        if debug:
            raise
        click.echo(f"error: {type(exc).__name__}: {_one_line(str(exc))} (set CSPB_DEBUG=1 for a traceback)",
                   err=True)
        return 1
    return int(result) if isinstance(result, int) else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
