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


# ---- POST resend policy ----------------------------------------------------------------------------

def test_a_post_without_an_idempotency_key_is_not_sent_again_after_a_5xx(server):
    server.app.faults.set(fail_every=1, method="POST")
    http = client(server, [])
    with pytest.raises(RetriableError):
        http.request("POST", "/orders", json={"buy": 1})
    assert http.request_count == 1 and server.app.faults.injected["500"] == 1


@pytest.mark.parametrize("how", ["header", "declared"])
def test_a_post_with_a_key_or_declared_safe_is_retried(server, how):
    server.app.faults.set(fail_every=1, method="POST")
    kwargs = {"headers": {"Idempotency-Key": "k-1"}} if how == "header" else {"idempotent": True}
    http = client(server, [], attempts=3)
    with pytest.raises(RetriableError):
        http.request("POST", "/orders", json={"buy": 1}, **kwargs)
    assert http.request_count == 3


def test_a_throttled_post_is_retried_because_it_never_ran(server):
    server.app.faults.set(throttle_every=2, retry_after_seconds=0, method="POST")
    assert client(server, []).request("POST", "/orders", json={"buy": 1}).json()["ok"]


def test_a_refused_connection_is_retried_even_for_a_post():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    http = HttpClient(f"http://127.0.0.1:{port}", retry=RetryPolicy(max_attempts=3, base_seconds=0.001,
                                                                    cap_seconds=0.001))
    with pytest.raises(RetriableError):
        http.request("POST", "/orders", json={})
    assert http.request_count == 3


# ---- one throttle per process and host ----------------------------------------------------------------

def test_a_429_pauses_every_client_of_the_host_not_just_the_one_told(server):
    from shared import throttle

    server.app.faults.set(throttle_every=1, retry_after_seconds=3, method="POST")
    told_sleeps, other_sleeps = [], []
    told = client(server, told_sleeps, attempts=1)
    with pytest.raises(ThrottledError):
        told.request("POST", "/orders", json={})
    server.app.faults.clear()
    host = throttle.for_url(server.url)
    assert host.pauses == 1
    import threading

    other = client(server, other_sleeps)  # another client, on another thread (another message)
    answers = []
    worker = threading.Thread(target=lambda: answers.append(other.request("GET", "/x").json()["ok"]))
    worker.start()
    worker.join()
    assert answers == [True]
    assert len(other_sleeps) == 1 and 2.5 < other_sleeps[0] <= 3  # it waited out the shared pause first


def test_token_bucket_paces_requests_across_threads():
    from shared.throttle import HostThrottle

    now = [0.0]
    slept: list[float] = []
    bucket = HostThrottle(rate=10, burst=2, clock=lambda: now[0])
    for _ in range(5):
        with bucket.turn(slept.append):
            pass
    # two from the burst, then one per 0.1 s of debt
    assert slept == pytest.approx([0.1, 0.2, 0.3])


def test_in_flight_cap_holds_across_threads(server):
    import threading

    from shared import throttle

    gate = throttle.configure(server.url, max_in_flight=2)
    server.app.faults.set(latency_ms=50)
    http = client(server, [])
    threads = [threading.Thread(target=lambda: http.request("GET", "/x")) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gate.peak_in_flight == 2
    throttle.configure(server.url, max_in_flight=0)


def test_dataverse_concurrency_budget_counts_host_json_and_instances():
    """Dataverse allows 52 concurrent requests per user. Each instance runs at most host.json's
    maxConcurrentCalls per Service Bus function, and its Dataverse clients share one in-flight cap of
    52 // CSPB_MAX_INSTANCES: so instances x min(calls, cap) stays under 52 for the deployed scale limit."""
    import json
    import re
    from pathlib import Path

    from shared.throttle import DATAVERSE_CONCURRENT_LIMIT, dataverse_in_flight_cap

    root = Path(__file__).resolve().parents[2]
    calls = json.loads((root / "host.json").read_text())["extensions"]["serviceBus"]["maxConcurrentCalls"]
    functions = sum(text.count("service_bus_queue_trigger(") for text in
                    (p.read_text() for p in (root / "functions").glob("*.py")))
    instances = int(re.search(r"var maxInstances = (\d+)", (root / "infra" / "resources.bicep").read_text()).group(1))
    per_instance = min(calls * functions, dataverse_in_flight_cap(instances))
    assert instances * per_instance <= DATAVERSE_CONCURRENT_LIMIT
    # and with the local default (3 instances) the cap still keeps the sum under the limit
    assert 3 * dataverse_in_flight_cap(3) <= DATAVERSE_CONCURRENT_LIMIT
