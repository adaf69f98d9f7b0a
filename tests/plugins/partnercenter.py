"""pytest fixtures for the partnercenter area (sandboxes started on 127.0.0.1, port 0).

- `pc_server`: a RunningServer for a fresh copy of a small seeded partner (12 customers, seed 1);
  `pc_server.app` is the SandboxApp (`.faults` to inject 429/500/timeouts, `.state` for the data).
- `pc`: a PartnerCenterClient pointed at it (both base URLs), with a fast retry policy and no
  poll delay.
- `make_pc(server, **kwargs)`: build another client (e.g. a short `timeout=`).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="session")
def pc_seed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sandbox.partnercenter.seed import seed_to_dir

    path = tmp_path_factory.mktemp("pc-seed") / "partnercenter"
    seed_to_dir(path, customers=12, seed=1, usage_rows=3000)
    return path


@pytest.fixture
def pc_server(pc_seed_template: Path, tmp_path: Path) -> Iterator[Any]:
    from sandbox._server import RunningServer
    from sandbox.partnercenter.server import build_app

    state_dir = tmp_path / "pc-state"
    shutil.copytree(pc_seed_template, state_dir)
    server = RunningServer(build_app(state_dir), port=0).start()
    try:
        yield server
    finally:
        server.app.faults.clear()
        server.stop()


@pytest.fixture
def make_pc() -> Callable[..., Any]:
    def build(server: Any, **kwargs: Any) -> Any:
        from partnercenter.client import PartnerCenterClient
        from shared.config import Settings
        from shared.http import RetryPolicy

        settings = Settings(mode="sandbox", partner_center_url=server.url, partner_api_url=server.url,
                                    graph_url=server.url)
        kwargs.setdefault("retry", RetryPolicy(max_attempts=5, base_seconds=0.01, cap_seconds=0.05,
                                               max_retry_after=0.05))
        kwargs.setdefault("timeout", 10.0)
        kwargs.setdefault("poll_interval", 0.0)
        return PartnerCenterClient.from_settings(settings, **kwargs)

    return build


@pytest.fixture
def pc(pc_server: Any, make_pc: Callable[..., Any]) -> Any:
    return make_pc(pc_server)
