"""pytest fixtures for the distributors area (sandboxes started on 127.0.0.1, port 0)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox._server import RunningServer


def _serve(module: str, state_dir: Path) -> Iterator[RunningServer]:
    import importlib

    app = importlib.import_module(module).build_app(state_dir)
    with RunningServer(app, port=0) as server:
        yield server


@pytest.fixture
def pax8_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.pax8.server", tmp_path / "pax8")


@pytest.fixture
def stripe_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.stripe.server", tmp_path / "stripe")


@pytest.fixture
def authorizenet_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.authorizenet.server", tmp_path / "authorizenet")


@pytest.fixture
def quickbooks_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.quickbooks.server", tmp_path / "quickbooks")


@pytest.fixture
def businesscentral_server(tmp_path: Path) -> Iterator[RunningServer]:
    yield from _serve("sandbox.businesscentral.server", tmp_path / "businesscentral")


@pytest.fixture
def fast_retry():
    """A retry policy that does not sleep, so fault-injection tests stay fast."""
    from shared.http import RetryPolicy

    return RetryPolicy(max_attempts=4, sleep=lambda _s: None)
