"""Which sandbox servers exist, and their default ports for `cspbridge sandbox` and `make demo`.

Each entry points at `build_app(state_dir: pathlib.Path) -> sandbox._server.SandboxApp`.
Tests start the same apps on port 0.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from sandbox._server import RunningServer

# name -> (module:function, default port)
SANDBOXES: dict[str, tuple[str, int]] = {
    "dataverse": ("sandbox.dataverse.server:build_app", 7101),
    "partnercenter": ("sandbox.partnercenter.server:build_app", 7102),
    "pax8": ("sandbox.pax8.server:build_app", 7103),
    "stripe": ("sandbox.stripe.server:build_app", 7104),
    "authorizenet": ("sandbox.authorizenet.server:build_app", 7105),
    "quickbooks": ("sandbox.quickbooks.server:build_app", 7106),
    "businesscentral": ("sandbox.businesscentral.server:build_app", 7107),
    "mail": ("sandbox.mail.server:build_app", 7108),
    "entra": ("sandbox.entra.server:build_app", 7109),
    "tdsynnex": ("sandbox.tdsynnex.server:build_app", 7110),
}
# Served over TLS with the local CA of sandbox/tls.py (`<state>/tls/ca.pem`): msal takes only https authorities.
TLS_SANDBOXES = {"entra"}


def available() -> list[str]:
    names = []
    for name, (target, _port) in SANDBOXES.items():
        module = target.split(":")[0]
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue
            raise
        names.append(name)
    return names


def build(name: str, state_dir: Path):  # type: ignore[no-untyped-def]
    module, func = SANDBOXES[name][0].split(":")
    return getattr(importlib.import_module(module), func)(state_dir)


def tls_folder(state_dir: Path) -> Path:
    """Where the sandboxes' local CA lives (one per state root, shared by every TLS sandbox)."""
    return state_dir.parent / "tls"


def start(name: str, state_dir: Path, port: int | None = None) -> RunningServer:
    state_dir.mkdir(parents=True, exist_ok=True)
    app = build(name, state_dir)
    context = None
    if name in TLS_SANDBOXES:
        from sandbox.tls import local_tls

        context = local_tls(tls_folder(state_dir)).server_context()
    return RunningServer(app, SANDBOXES[name][1] if port is None else port, ssl_context=context).start()


def start_all(state_dir: Path, *, ephemeral_ports: bool = False) -> dict[str, RunningServer]:
    return {name: start(name, state_dir / name, 0 if ephemeral_ports else None) for name in available()}
