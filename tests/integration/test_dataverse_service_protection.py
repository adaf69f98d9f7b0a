"""The Dataverse sandbox's service protection emulation (off by default): 429 + Retry-After past N
requests per sliding window or past the concurrency limit, Microsoft's codes and headers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox._server import RunningServer
from sandbox.dataverse.server import build_app
from sandbox.dataverse.service_protection import CONCURRENCY_CODE, REQUESTS_CODE, SETTING, Limits

pytestmark = pytest.mark.integration

AUTH = {"Authorization": "Bearer sandbox-token", "Accept": "application/json"}


@pytest.fixture
def protected(tmp_path, monkeypatch):
    def start(setting: str | None):
        if setting is None:
            monkeypatch.delenv(SETTING, raising=False)
        else:
            monkeypatch.setenv(SETTING, setting)
        app = build_app(tmp_path / f"dv-{len(started)}")
        server = RunningServer(app).start()
        started.append((server, app))
        return server, app

    started: list = []
    yield start
    for server, app in started:
        server.stop()
        app.close()


def _get(server, headers=AUTH) -> requests.Response:
    return requests.get(f"{server.url}/api/data/v9.2/accounts?$top=1", headers=headers, timeout=10)


def test_off_by_default(protected) -> None:
    server, app = protected(None)
    assert app.protection is None
    assert all(_get(server).status_code == 200 for _ in range(30))


def test_requests_past_the_window_limit_get_429_with_retry_after(protected) -> None:
    server, app = protected("requests=5,window=60")
    answers = [_get(server) for _ in range(7)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 2
    refused = answers[5]
    assert refused.json()["error"]["code"] == REQUESTS_CODE
    assert "exceeded the limit of 5 over time window of 60 seconds" in refused.json()["error"]["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert int(answers[6].headers["Retry-After"]) >= int(refused.headers["Retry-After"])  # sustained overuse waits longer
    assert answers[0].headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "4"
    assert "x-ms-ratelimit-time-remaining-xrm-requests" in answers[0].headers
    # Per user: another caller has its own window.
    assert _get(server, {**AUTH, "Authorization": "Bearer another-user"}).status_code == 200
    assert app.protection.refused[REQUESTS_CODE] == 2


def test_a_batch_counts_as_one_request(protected, tmp_path) -> None:
    from dataverse.batch import BatchRequest
    from dataverse.client import DataverseClient
    from shared.auth import static_token
    from shared.http import RetryPolicy

    server, _ = protected("requests=3,window=60")
    dv = DataverseClient(server.url, static_token("sandbox-token"), retry=RetryPolicy(max_attempts=1))
    responses = dv.batch([BatchRequest("POST", "accounts", {"name": f"A{i}"}) for i in range(50)])
    assert len(responses) == 50 and all(r.ok for r in responses)
    assert _get(server).status_code == 200 and _get(server).status_code == 200
    assert _get(server).status_code == 429


def test_more_concurrent_requests_than_the_limit_are_refused_at_once(protected) -> None:
    server, app = protected("concurrent=2")
    app.faults.set(latency_ms=300)
    with ThreadPoolExecutor(max_workers=6) as pool:
        codes = [r.status_code for r in pool.map(lambda _: _get(server), range(6))]
    assert codes.count(200) >= 2 and codes.count(429) >= 1
    assert app.protection.refused[CONCURRENCY_CODE] == codes.count(429)


def test_the_setting_names_what_is_wrong() -> None:
    assert Limits.parse("on") == Limits()
    assert Limits.parse("off") is None and Limits.parse("") is None
    assert Limits.parse("requests=600,window=30") == Limits(requests=600, window_seconds=30.0)
    with pytest.raises(ValueError, match="unknown or empty part 'bogus=1'"):
        Limits.parse("requests=1,bogus=1")
    with pytest.raises(ValueError, match="must be positive"):
        Limits.parse("requests=0")


def test_execution_time_past_the_window_limit_is_refused_until_it_slides_out() -> None:
    from sandbox.dataverse.service_protection import TIME_CODE, Refusal, ServiceProtection

    now = [0.0]
    protection = ServiceProtection(Limits(requests=100, window_seconds=10, execution_ms=3000),
                                   clock=lambda: now[0])
    for _ in range(3):
        entry = protection.admit("u")
        assert not isinstance(entry, Refusal)
        protection.release("u", entry, server_seconds=1.0)  # CPU seconds, not wall time
        now[0] += 1
    refused = protection.admit("u")
    assert isinstance(refused, Refusal) and refused.code == TIME_CODE and refused.retry_after >= 1
    now[0] = 10.5  # the first request left the window
    assert not isinstance(protection.admit("u"), Refusal)
