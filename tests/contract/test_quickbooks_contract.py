"""QuickBooks Online: OAuth 2.0 with a rotating refresh token, Intuit's per-realm limits and
throttling body, and both sides of every call the product makes (data/vendors/quickbooks.json)."""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from accounting import quickbooks_auth
from accounting.base import Customer, JournalEntry, JournalLine, Payment
from accounting.quickbooks import QuickBooksTarget
from sandbox._server import RunningServer
from shared.errors import AuthError, ThrottledError
from tests.contract.vendor_wire import Recorder, vendor_spec
from tests.plugins.distributors import accounting_invoice

pytestmark = pytest.mark.integration

SPEC = vendor_spec("quickbooks")
REALM = "9130354"


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[RunningServer, Recorder]]:
    from sandbox.quickbooks.server import build_app

    recorder = Recorder(build_app(tmp_path / "qbo"))
    recorder.sandbox.accept_any_token = False  # OAuth only, as Intuit
    with RunningServer(recorder, port=0) as server:
        yield server, recorder


@pytest.fixture
def from_settings(recorded, monkeypatch):
    """A QuickBooksTarget built from settings alone (sandbox mode: the sandbox's client and first
    refresh token; the rotated one persists in the local secret store)."""
    from shared.config import get_settings, reset_settings

    server, _ = recorded
    for name, value in {"QUICKBOOKS_URL": server.url, "QUICKBOOKS_REALM_ID": REALM, "HTTP_MAX_ATTEMPTS": "4",
                        "HTTP_BACKOFF_CAP_SECONDS": "0.05"}.items():
        monkeypatch.setenv(f"CSPB_{name}", value)
    reset_settings()
    quickbooks_auth._tokens.clear()
    quickbooks_auth._limiters.clear()

    def build() -> QuickBooksTarget:
        return QuickBooksTarget.from_settings(get_settings())

    yield build
    quickbooks_auth._tokens.clear()
    quickbooks_auth._limiters.clear()


def _customer(n: int = 1) -> Customer:
    return Customer(f"acct-{n}", f"Contoso {n}", f"ap{n}@contoso.example", "USD")


def test_the_access_token_expires_and_is_refreshed_during_the_run(from_settings, recorded):
    _, recorder = recorded
    sandbox = recorder.sandbox
    sandbox.access_ttl = 2
    target = from_settings()
    invoice_id = target.push_invoice(accounting_invoice(_customer()))
    first_tokens = sandbox.token_requests
    time.sleep(1.7)  # past the point where the client renews early (a quarter of the life)
    target.push_payment(Payment("pay-1", "INV-0001", _customer(), Decimal("124.80"), date(2026, 3, 5), "USD"),
                        invoice_id)
    assert first_tokens == 1 and sandbox.token_requests == 2
    used = [c.headers["Authorization"] for c in recorder.calls if c.path.startswith("/v3/")]
    assert len(set(used)) == 2 and all(c.status != 401 for c in recorder.calls)
    # The refresh token was rotated at each refresh and the newest one is the one stored.
    from shared.config import get_settings

    store = quickbooks_auth.secret_store(get_settings())
    stored = store.get("cspb-quickbooks-refresh-token").reveal()
    assert sandbox.refresh_tokens == {stored} and stored != quickbooks_auth.SANDBOX_REFRESH_TOKEN


def test_another_process_uses_the_rotated_refresh_token(from_settings, recorded):
    _, recorder = recorded
    from_settings().upsert_customer(_customer(2))
    quickbooks_auth._tokens.clear()  # a second process: a new provider, the same secret store
    from_settings().upsert_customer(_customer(3))
    assert recorder.sandbox.token_requests == 2
    token_calls = [c for c in recorder.calls if c.path == "/oauth2/v1/tokens/bearer"]
    assert all(c.status == 200 for c in token_calls)


def test_a_refused_refresh_token_asks_for_a_new_consent(from_settings, recorded):
    _, recorder = recorded
    recorder.sandbox.refresh_tokens = {"someone-else-s"}
    with pytest.raises(AuthError) as refused:
        from_settings().upsert_customer(_customer(4))
    assert "reconnect" in refused.value.message and "sandbox-refresh-token" not in refused.value.message


def test_a_revoked_access_token_is_replaced_once(from_settings, recorded):
    _, recorder = recorded
    target = from_settings()
    target.upsert_customer(_customer(5))
    recorder.sandbox.access_tokens.clear()  # Intuit revoked it
    target.upsert_customer(_customer(6))
    assert recorder.sandbox.token_requests == 2


def test_the_per_realm_limiter_stays_inside_intuits_limits(from_settings, recorded, monkeypatch):
    from shared.config import reset_settings

    _, recorder = recorded
    sandbox = recorder.sandbox
    sandbox.max_concurrent, sandbox.per_minute = 3, 40
    sandbox.latency = 0
    monkeypatch.setenv("CSPB_QUICKBOOKS_MAX_CONCURRENT", "3")
    monkeypatch.setenv("CSPB_QUICKBOOKS_REQUESTS_PER_MINUTE", "40")
    reset_settings()
    target = from_settings()
    target.query_one("Account", "AcctNum", "4000")  # token first
    recorder.app.faults.set(latency_ms=30)
    errors: list[Exception] = []

    def work() -> None:
        try:
            target.query_one("Account", "AcctNum", "4000")
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sandbox.throttled == 0 and sandbox.peak_in_flight <= 3
    # The same burst without the limiter is throttled: the sandbox enforces Intuit's limit.
    from accounting.quickbooks_auth import RealmLimiter
    from shared.http import RetryPolicy

    server, _ = recorded
    target = QuickBooksTarget(server.url, REALM, target.tokens, limiter=RealmLimiter(30, 1000),
                              retry=RetryPolicy(max_attempts=1))
    threads = [threading.Thread(target=work) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sandbox.throttled > 0 and any(isinstance(e, ThrottledError) for e in errors)


def test_throttling_answers_intuits_body_and_is_typed(recorded):
    server, recorder = recorded
    recorder.app.faults.set(throttle_every=1, retry_after_seconds=0, path_contains="/v3/")
    recorder.sandbox.accept_any_token = True
    answer = requests.get(f"{server.url}/v3/company/{REALM}/query", params={"query": "select * from Account"},
                          headers={"Authorization": "Bearer x"}, timeout=5)
    assert answer.status_code == 429
    fault = answer.json()["Fault"]["Error"][0]
    assert fault["code"] == "003001" and "ThrottleExceeded" in fault["Message"]
    from accounting.quickbooks import qbo_error_decoder

    assert isinstance(qbo_error_decoder(answer), ThrottledError)


def test_the_token_endpoint_follows_intuits_shape(recorded):
    server, _ = recorded
    basic = base64.b64encode(b"sandbox-client:sandbox-secret").decode()
    good = requests.post(server.url + "/oauth2/v1/tokens/bearer", headers={"Authorization": f"Basic {basic}"},
                         data={"grant_type": "refresh_token", "refresh_token": "sandbox-refresh-token"}, timeout=5)
    assert good.status_code == 200 and set(SPEC["token_refresh"]["response"][0:2]) <= set(good.json())
    assert {"expires_in", "x_refresh_token_expires_in", "token_type"} <= set(good.json())
    reused = requests.post(server.url + "/oauth2/v1/tokens/bearer", headers={"Authorization": f"Basic {basic}"},
                           data={"grant_type": "refresh_token", "refresh_token": "sandbox-refresh-token"}, timeout=5)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    wrong = requests.post(server.url + "/oauth2/v1/tokens/bearer", headers={"Authorization": "Basic eDp5"},
                          data={"grant_type": "refresh_token", "refresh_token": "x"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"


CALLS = [("POST", "/oauth2/v1/tokens/bearer", "token refresh"), ("GET", r"/v3/company/\w+/query", "query"),
         ("POST", r"/v3/company/\w+/customer", "customer"), ("POST", r"/v3/company/\w+/item", "item"),
         ("POST", r"/v3/company/\w+/invoice", "invoice"), ("POST", r"/v3/company/\w+/payment", "payment"),
         ("POST", r"/v3/company/\w+/journalentry", "journalentry")]


def test_every_call_the_product_makes_matches_on_both_sides(from_settings, recorded, capsys):
    _, recorder = recorded
    target = from_settings()
    customer = _customer(7)
    invoice_id = target.push_invoice(accounting_invoice(customer))
    target.upsert_customer(Customer(customer.key, customer.name, "new@contoso.example", "USD"))  # sparse update
    target.push_payment(Payment("pay-7", "INV-0001", customer, Decimal("124.80"), date(2026, 3, 5), "USD"), invoice_id)
    target.push_journal(JournalEntry("JE-2026-03", date(2026, 3, 31), "USD", (
        JournalLine("2400", Decimal("10.00"), Decimal("0"), "release"),
        JournalLine("4000", Decimal("0"), Decimal("10.00"), "revenue"))))
    report: dict[str, list[str]] = {}
    for method, pattern, name in CALLS:
        calls = [c for c in recorder.calls if c.method == method and re.fullmatch(pattern, c.path)]
        problems: list[str] = [] if calls else ["never called"]
        for c in calls:
            if c.status >= 400:
                problems.append(f"HTTP {c.status}")
                continue
            if name == "token refresh":
                if not c.headers.get("Authorization", "").startswith("Basic ") or \
                        "application/x-www-form-urlencoded" not in c.headers.get("Content-Type", ""):
                    problems.append("token request is not Basic auth + form body")
                continue
            if "minorversion=" not in c.query:
                problems.append("no minorversion")
            body = c.json()
            if name == "query":
                if "QueryResponse" not in body or "time" not in body:
                    problems.append("query envelope")
                continue
            entity = {"customer": "Customer", "item": "Item", "invoice": "Invoice", "payment": "Payment",
                      "journalentry": "JournalEntry"}[name]
            if set(body) != {entity, "time"} or not {"Id", "SyncToken"} <= set(body[entity]):
                problems.append("entity envelope")
            sent = c.request_json()
            if "Id" not in sent and "requestid=" not in c.query:
                problems.append("create without requestid")
            if name == "invoice":
                missing = set(SPEC["invoice"]["required"]) - set(sent)
                if missing or len(sent.get("DocNumber", "")) > 21:
                    problems.append(f"invoice body {sorted(missing)}")
                for line in sent["Line"]:
                    if line["DetailType"] != "SalesItemLineDetail" or "ItemRef" not in line["SalesItemLineDetail"]:
                        problems.append("invoice line shape")
            if "Id" in sent and not ("SyncToken" in sent and sent.get("sparse") is True):
                problems.append("update without SyncToken/sparse")
        report[name] = sorted(set(problems))
    with capsys.disabled():
        print(f"\nQuickBooks calls matched on both sides: {sum(not v for v in report.values())}/{len(CALLS)}")
        for name, problems in report.items():
            print(f"  {'pass' if not problems else 'FAIL'}  {name}  {'; '.join(problems)}")
    assert all(not v for v in report.values()), report
