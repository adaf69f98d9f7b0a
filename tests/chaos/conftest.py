"""Chaos fixtures: a fault proxy in front of a sandbox, a listener that never answers, counters.

Every test here is functional (counts of purchases, rows, statuses), never timed: a measured time
is printed for the notes, and the bounds are proven by which path answered."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.chaos.proxy import FaultProxy


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A URL whose port accepts connections and never answers (a hung storage account)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


@pytest.fixture
def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fault_proxy():
    made: list[FaultProxy] = []

    def build(url: str, plan=None, **kwargs) -> FaultProxy:  # type: ignore[no-untyped-def]
        proxy = FaultProxy.to(url, plan, **kwargs)
        made.append(proxy)
        return proxy

    yield build
    for proxy in made:
        proxy.stop()
