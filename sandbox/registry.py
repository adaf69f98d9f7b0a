"""Which sandbox servers exist, and how to start them for `cspbridge sandbox` and `make demo`.

Each entry points at `build_app(state_dir: pathlib.Path) -> sandbox._server.SandboxApp`; the
default ports live in sandbox/ports.py. Tests start the same apps on port 0.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from sandbox._server import RunningServer
from sandbox.ports import PORTS

# name -> (module:function, default port)
SANDBOXES: dict[str, tuple[str, int]] = {
    name: (f"sandbox.{name}.server:build_app", PORTS[name])
    for name in ("dataverse", "partnercenter", "pax8", "stripe", "authorizenet", "quickbooks", "businesscentral",
                 "mail", "entra", "tdsynnex")
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
