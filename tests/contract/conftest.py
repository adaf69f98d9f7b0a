"""Fixtures for the contract suite: the published samples, a replay server that answers with them
(what our client parses), and raw calls to our sandboxes (what we compare against the samples).

Samples are read from tests/contract/samples/ (copied into the repository, so a clean clone runs).
`wire_sample(name)` loads one and records it for the coverage line (tests/plugins/contract.py).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from werkzeug.wrappers import Request, Response

from tests.contract.wire import HttpSample, load_http


@pytest.fixture
def wire_sample(request: pytest.FixtureRequest) -> Callable[..., HttpSample]:
    def load(name: str, folder: str = "partnercenter") -> HttpSample:
        request.node.user_properties.append(("contract_sample", f"{folder}/{name}"))
        return load_http(name, folder)

    return load


@pytest.fixture
def uses_sample(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a sample that is not an .http block (a column list, the XSD, Stripe fixtures)."""
    def mark(name: str) -> None:
        request.node.user_properties.append(("contract_sample", name))

    return mark


class Replay:
    """A loopback server that answers each route with a published sample, and records what it got."""

    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Callable[[Request], HttpSample]]] = []
        self.seen: list[dict[str, Any]] = []

    def add(self, method: str, pattern: str, answer: HttpSample | Callable[[Request], HttpSample]) -> None:
        fn = answer if callable(answer) else (lambda _r, s=answer: s)
        self.routes.append((method, re.compile(pattern), fn))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        target = request.full_path.rstrip("?") if request.query_string else request.path
        self.seen.append({"method": request.method, "target": target, "headers": dict(request.headers)})
        for method, pattern, fn in self.routes:
            if method == request.method and pattern.fullmatch(target):
                sample = fn(request)
                headers = {k: v for k, v in sample.headers.items() if k.lower() not in ("content-length", "date")}
                body = sample.text.encode("utf-8")
                return Response(body, status=sample.status, headers=headers)(environ, start_response)
        return Response(f"no replay route for {request.method} {target}", status=599)(environ, start_response)


@pytest.fixture
def replay() -> Iterator[Any]:
    from sandbox._server import RunningServer

    app = Replay()
    server = RunningServer(app, port=0).start()
    server.replay = app  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def replay_pc(replay: Any) -> Any:
    """Our PartnerCenterClient with every base URL on the replay server."""
    from partnercenter.client import PartnerCenterClient
    from shared.config import Settings
    from shared.http import RetryPolicy

    settings = Settings(mode="sandbox", partner_center_url=replay.url, partner_api_url=replay.url,
                        graph_url=replay.url)
    return PartnerCenterClient.from_settings(settings, retry=RetryPolicy(max_attempts=1), timeout=5.0,
                                             poll_interval=0.0)


class SandboxCaller:
    """Raw HTTP to a sandbox, the way the client calls it, keeping the JSON as sent (types intact)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def call(self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None,
             params: dict[str, Any] | None = None) -> requests.Response:
        correlation = str(uuid.uuid4())
        sent = {"Authorization": "Bearer sandbox-token", "Accept": "application/json",
                "MS-CorrelationId": correlation, **(headers or {})}
        if method != "GET":
            sent.setdefault("MS-RequestId", str(uuid.uuid4()))
        response = self.session.request(method, self.base_url + path, json=json, headers=sent, params=params,
                                        timeout=10)
        response.sent_headers = sent  # type: ignore[attr-defined]
        return response


def assert_pc_headers(response: requests.Response) -> None:
    """Partner Center echoes MS-CorrelationId (ours) and MS-RequestId on every answer."""
    sent = response.sent_headers  # type: ignore[attr-defined]
    assert response.headers.get("MS-CorrelationId") == sent["MS-CorrelationId"], dict(response.headers)
    assert response.headers.get("MS-RequestId"), dict(response.headers)
    if "MS-RequestId" in sent:
        assert response.headers["MS-RequestId"] == sent["MS-RequestId"]


@pytest.fixture
def pc_raw(pc_server: Any) -> SandboxCaller:
    return SandboxCaller(pc_server.url)
