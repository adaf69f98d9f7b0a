"""pytest fixtures for the dataverse area (sandboxes started on 127.0.0.1, port 0).

- `dv_server`: a RunningServer of a fresh Dataverse sandbox (tables from the solution source);
  `dv_server.app` is the DataverseSandbox: `.faults.set(...)`, `.register_webhook(...)`,
  `.wait_for_webhooks()`, `.webhook_deliveries`, `.api.stats`, `.api.dop_hint`.
- `dv`: a DataverseClient pointed at it, with a static token and a retry policy that waits at most
  50 ms (Retry-After included), so throttling tests stay fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def dv_server(tmp_path: Path) -> Iterator:
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app

    app = build_app(tmp_path / "dataverse")
    server = RunningServer(app, port=0).start()
    try:
        yield server
    finally:
        server.stop()
        app.close()


def fast_retry():
    from shared.http import RetryPolicy

    return RetryPolicy(max_attempts=5, base_seconds=0.005, cap_seconds=0.05, max_retry_after=0.05)


@pytest.fixture
def dv(dv_server):
    from dataverse.client import DataverseClient
    from shared.auth import static_token

    return DataverseClient(dv_server.url, static_token("sandbox-token"), retry=fast_retry(), timeout=10.0)
