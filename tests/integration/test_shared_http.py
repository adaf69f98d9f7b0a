"""The shared HTTP layer against a real loopback server with injected faults."""

import pytest
from werkzeug.wrappers import Request

from sandbox._server import RunningServer, SandboxApp, json_response
from shared.errors import NotFoundError, RetriableError, ThrottledError, ValidationError
from shared.http import HttpClient, RetryPolicy, parse_retry_after

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self):
        self.requests = []

    def __call__(self, request: Request):
        self.requests.append((request.method, request.path, dict(request.headers)))
        if request.path == "/missing":
            return json_response({"error": {"code": "0x80040217", "message": "Record not found"}}, 404)
        if request.path == "/bad":
            return json_response({"error": {"code": "BadRequest", "message": "quantity must be > 0"}}, 400)
        return json_response({"ok": True, "path": request.path})


@pytest.fixture
def server():
    recorder = Recorder()
    app = SandboxApp(recorder)
    with RunningServer(app) as running:
        running.recorder = recorder
        yield running


def client(server, sleeps, attempts=4):
    return HttpClient(server.url, token_provider=lambda: "tkn",
                      retry=RetryPolicy(max_attempts=attempts, base_seconds=0.01, cap_seconds=0.05, sleep=sleeps.append))


def test_429_is_retried_honouring_retry_after_and_keeps_idempotency_header(server):
    server.app.faults.set(throttle_every=1, retry_after_seconds=7)
    sleeps = []
    http = client(server, sleeps)
    # every request throttled: gives up after max attempts with a ThrottledError carrying the hint
    with pytest.raises(ThrottledError) as info:
        http.request("POST", "/orders", json={}, headers={"MS-RequestId": "abc"})
    assert info.value.retry_after == 7
    assert sleeps == [7, 7, 7]
    server.app.faults.set(throttle_every=2, retry_after_seconds=0)
    sleeps.clear()
    assert http.request("POST", "/orders", json={}, headers={"MS-RequestId": "abc"}).json()["ok"]
    ids = {h.get("Ms-Requestid") for _m, p, h in server.recorder.requests if p == "/orders"}
    assert ids == {"abc"}


def test_5xx_retried_with_capped_jittered_backoff(server):
    server.app.faults.set(fail_every=1)
    sleeps = []
    with pytest.raises(RetriableError):
        client(server, sleeps, attempts=5).get_json("/x")
    assert len(sleeps) == 4 and all(0 <= s <= 0.05 for s in sleeps)


def test_client_errors_are_not_retried_and_are_typed(server):
    sleeps = []
    http = client(server, sleeps)
    with pytest.raises(NotFoundError) as info:
        http.get_json("/missing")
    assert info.value.code == "0x80040217"
    with pytest.raises(ValidationError, match="quantity must be > 0"):
        http.get_json("/bad")
    assert sleeps == []


def test_bearer_token_is_sent(server):
    client(server, []).get_json("/hello")
    assert server.recorder.requests[-1][2]["Authorization"] == "Bearer tkn"


def test_parse_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("garbage") is None
