"""Business Central API v2.0: a token from azure-identity for the BC API scope, built from settings
alone against the Entra stand-in, that expires and is renewed during the test; the documented
customer payment fields; the throttling body; both sides of every call the product makes
(data/vendors/businesscentral.json)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
import requests

from accounting.base import Customer, JournalEntry, JournalLine, Payment
from accounting.businesscentral import BC_SCOPE, BusinessCentralTarget
from sandbox._server import RunningServer
from sandbox.businesscentral.server import COMPANY_ID
from shared.errors import ThrottledError
from tests.contract.vendor_wire import Recorder, vendor_spec
from tests.plugins.distributors import accounting_invoice

pytestmark = pytest.mark.integration

SPEC = vendor_spec("businesscentral")
TENANT = "7d1e8e42-0000-4000-8000-00000000b0c0"
APP_ID = "3f2b9c1a-0000-4000-8000-00000000acc7"
APP_SECRET = "bc-app-secret-for-the-stand-in"  # noqa: S105 - a stand-in's test credential


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[RunningServer, Recorder]]:
    from sandbox.businesscentral.server import build_app

    recorder = Recorder(build_app(tmp_path / "bc"))
    recorder.sandbox.accept_any_token = False  # Entra tokens only, as Business Central
    with RunningServer(recorder, port=0) as server:
        yield server, recorder


@pytest.fixture
def entra(tmp_path: Path) -> Iterator[tuple[RunningServer, object, Path]]:
    from sandbox.entra.server import App, build_app
    from sandbox.tls import local_tls

    tls = local_tls(tmp_path / "tls")
    app = build_app()
    app.entra.add_app(App(APP_ID, "CSPBridge accounting", secret=APP_SECRET))
    with RunningServer(app, port=0, ssl_context=tls.server_context()) as server:
        yield server, app.entra, tls.ca_file


@pytest.fixture
def target_from_settings(recorded, entra, monkeypatch):
    from shared.auth import reset_credentials
    from shared.config import get_settings, reset_settings

    server, _ = recorded
    login, _state, ca = entra
    for name, value in {"BUSINESS_CENTRAL_URL": server.url, "BUSINESS_CENTRAL_COMPANY_ID": COMPANY_ID,
                        "LOGIN_URL": login.url, "CA_BUNDLE": str(ca), "TENANT_ID": TENANT, "CLIENT_ID": APP_ID,
                        "CLIENT_SECRET": APP_SECRET, "HTTP_MAX_ATTEMPTS": "3",
                        "HTTP_BACKOFF_CAP_SECONDS": "0.05"}.items():
        monkeypatch.setenv(f"CSPB_{name}", value)
    reset_settings()
    reset_credentials()
    yield lambda: BusinessCentralTarget.from_settings(get_settings())
    reset_credentials()


def _customer(n: int = 1) -> Customer:
    return Customer(f"acct-{n}", f"Contoso {n}", f"ap{n}@contoso.example", "USD")


def test_the_token_comes_from_settings_expires_and_is_renewed(target_from_settings, recorded, entra):
    _, recorder = recorded
    _, state, _ = entra
    state.app_token_lifetime = 122  # renewed two minutes before expiry, so within a few seconds here
    target = target_from_settings()
    invoice_id = target.push_invoice(accounting_invoice(_customer()))
    time.sleep(2.5)
    target.push_payment(Payment("pay-1", "INV-0001", _customer(), Decimal("124.80"), date(2026, 3, 5), "USD"),
                        invoice_id)
    issued = [t for t in state.issued if t["grant"] == "client_credentials"]
    assert len(issued) >= 2 and {t["aud"] for t in issued} == {BC_SCOPE.removesuffix("/.default")}
    assert len(recorder.sandbox.tokens_seen) >= 2 and all(c.status != 401 for c in recorder.calls)
    claims = jwt.decode(recorder.sandbox.tokens_seen[-1], options={"verify_signature": False})
    assert claims["tid"] == TENANT and claims["appid"] == APP_ID


def test_expired_and_foreign_tokens_are_refused(recorded):
    server, _ = recorded
    url = f"{server.url}/api/v2.0/companies({COMPANY_ID})/customers"
    now = int(time.time())

    def token(aud: str, exp: int) -> str:
        return jwt.encode({"aud": aud, "exp": exp, "tid": TENANT}, "k" * 32, algorithm="HS256")

    assert requests.get(url, headers={"Authorization": f"Bearer {token(BC_SCOPE[:-9], now + 60)}"},
                        timeout=5).status_code == 200
    for bad in (token(BC_SCOPE[:-9], now - 1), token("https://graph.microsoft.com", now + 60), "opaque"):
        answer = requests.get(url, headers={"Authorization": f"Bearer {bad}"}, timeout=5)
        assert answer.status_code == 401 and set(answer.json()["error"]) == {"code", "message"}


def test_a_customer_payment_takes_the_documented_fields_only(recorded):
    server, recorder = recorded
    recorder.sandbox.accept_any_token = True
    base = f"{server.url}/api/v2.0/companies({COMPANY_ID})"
    auth = {"Authorization": "Bearer t"}
    requests.post(f"{base}/customers", json={"number": "C1", "displayName": "C"}, headers=auth, timeout=5)
    for field in SPEC["customerPayment"]["not_documented"] + ["journalDisplayName"]:
        answer = requests.post(f"{base}/customerPayments", json={"customerNumber": "C1", "amount": 5, field: "x"},
                               headers=auth, timeout=5)
        assert answer.status_code == 400 and field in answer.json()["error"]["message"]


def test_throttling_answers_the_odata_error_and_is_retried(recorded):
    server, recorder = recorded
    recorder.sandbox.accept_any_token = True
    recorder.app.faults.set(throttle_every=1, retry_after_seconds=0, path_contains="/customers")
    answer = requests.get(f"{server.url}/api/v2.0/companies({COMPANY_ID})/customers",
                          headers={"Authorization": "Bearer t"}, timeout=5)
    assert answer.status_code == 429 and answer.json()["error"]["code"] == "Application_TooManyRequests"
    from shared.http import HttpClient, RetryPolicy

    client = HttpClient(f"{server.url}/api/v2.0/companies({COMPANY_ID})", token_provider=lambda: "t",
                        retry=RetryPolicy(max_attempts=1))
    with pytest.raises(ThrottledError):
        client.get_json("customers")


CALLS = [("GET", "customers"), ("POST", "customers"), ("PATCH", "customers"), ("GET", "items"), ("POST", "items"),
         ("GET", "salesInvoices"), ("POST", "salesInvoices"), ("GET", "salesInvoiceLines"),
         ("POST", "salesInvoiceLines"), ("POST", "Microsoft.NAV.post"), ("GET", "customerPayments"),
         ("POST", "customerPayments"), ("GET", "journals"), ("GET", "journalLines"), ("POST", "journalLines")]
DOCUMENTED_BODY = {
    "customers": set(SPEC["customer"]["fields"]), "items": {f.split(" ")[0] for f in SPEC["item"]["fields"]},
    "salesInvoices": set(SPEC["salesInvoice"]["fields"]), "salesInvoiceLines": set(SPEC["salesInvoiceLine"]["fields"]),
    "customerPayments": set(SPEC["customerPayment"]["fields"]) - {"journalDisplayName", "id", "lastModifiedDateTime"},
}


def test_every_call_the_product_makes_matches_on_both_sides(target_from_settings, recorded, capsys):
    _, recorder = recorded
    target = target_from_settings()
    customer = _customer(2)
    invoice_id = target.push_invoice(accounting_invoice(customer))
    target.upsert_customer(Customer(customer.key, customer.name, "new@contoso.example", "USD"))
    target.push_payment(Payment("pay-2", "INV-0001", customer, Decimal("124.80"), date(2026, 3, 5), "USD"), invoice_id)
    target.push_journal(JournalEntry("JE-2026-03", date(2026, 3, 31), "USD", (
        JournalLine("2400", Decimal("10.00"), Decimal("0"), "release"),
        JournalLine("4000", Decimal("0"), Decimal("10.00"), "revenue"))))
    report: dict[str, list[str]] = {}
    for method, segment in CALLS:
        name = f"{method} {segment}"
        calls = [c for c in recorder.calls if c.method == method
                 and re.search(rf"/{re.escape(segment)}(\([^)]*\))?$", c.path)]
        problems: list[str] = [] if calls else ["never called"]
        for c in calls:
            if c.status >= 400:
                problems.append(f"HTTP {c.status}")
                continue
            if not c.headers.get("Authorization", "").startswith("Bearer ey"):
                problems.append("not an Entra bearer token")
            if method == "PATCH" and not c.headers.get("If-Match"):
                problems.append("PATCH without If-Match")
            if segment == "Microsoft.NAV.post":
                if c.status != 204:
                    problems.append("post is not 204")
                continue
            if method in ("POST", "PATCH"):
                sent = set(c.request_json() or {})
                documented = DOCUMENTED_BODY.get(segment)
                if documented is not None and sent - documented:
                    problems.append(f"undocumented fields sent {sorted(sent - documented)}")
                if method == "POST" and c.status != 201:
                    problems.append(f"create answered {c.status}, not 201")
                if "@odata.etag" not in (c.json() or {}):
                    problems.append("no @odata.etag")
            else:
                if "value" not in (c.json() or {}):
                    problems.append("collection without value")
        report[name] = sorted(set(problems))
    with capsys.disabled():
        print(f"\nBusiness Central calls matched on both sides: {sum(not v for v in report.values())}/{len(CALLS)}")
        for name, problems in report.items():
            print(f"  {'pass' if not problems else 'FAIL'}  {name}  {'; '.join(problems)}")
    assert all(not v for v in report.values()), report
