"""Authorize.Net JSON API: both sides of every call the product makes, against the XSD element
sequences and the documented behaviour (data/vendors/authorizenet.json, payments_facts.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from payments.authorizenet import AuthorizeNetProcessor
from payments.base import FAILED, PENDING, SUCCEEDED
from sandbox._server import RunningServer
from shared.errors import ValidationError
from tests.contract.vendor_wire import Recorder, vendor_spec

pytestmark = pytest.mark.integration

SPEC = vendor_spec("authorizenet")
CALLS = ["createCustomerProfileRequest", "createCustomerPaymentProfileRequest", "createTransactionRequest",
         "getUnsettledTransactionListRequest", "getTransactionDetailsRequest"]


def _names(sequence: list[str]) -> list[str]:
    return [s.split(" ")[0] for s in sequence]


# Documented sequences (vendor file) of the objects the product sends, by the key that holds them.
DOC_SEQUENCES = {
    "createTransactionRequest": _names(SPEC["createTransactionRequest_sequence"]),
    "createCustomerProfileRequest": _names(SPEC["createCustomerProfileRequest_sequence"]),
    "createCustomerPaymentProfileRequest": _names(SPEC["createCustomerPaymentProfileRequest_sequence"]),
    "transactionRequest": _names(SPEC["transactionRequestType_sequence"]),
    "profile@createCustomerProfileRequest": _names(SPEC["customerProfileType_sequence"]),
    "paymentProfiles": _names(SPEC["customerPaymentProfileType_sequence"]),
    "paymentProfile@createCustomerPaymentProfileRequest": _names(SPEC["customerPaymentProfileType_sequence"]),
    "order": _names(SPEC["orderType_sequence"]),
    "setting": _names(SPEC["settingType_sequence"]),
}


def _in_order(keys: list[str], sequence: list[str]) -> bool:
    positions = [sequence.index(k) for k in keys if k in sequence]
    return positions == sorted(positions) and all(k in sequence for k in keys)


def _order_problems(call: str, payload: dict[str, Any]) -> list[str]:
    problems = []
    merchant = ["merchantAuthentication", "refId"]
    keys = list(payload)
    if keys[:1] != ["merchantAuthentication"]:
        problems.append(f"{call}: merchantAuthentication is not first")
    sequence = DOC_SEQUENCES.get(call, [*merchant, *[k for k in keys if k not in merchant]])
    if not _in_order(keys, sequence):
        problems.append(f"{call} keys {keys}")
    for key, value in payload.items():
        for name in (f"{key}@{call}", key):
            if name in DOC_SEQUENCES:
                items = value if isinstance(value, list) else [value]
                for item in items:
                    if isinstance(item, dict) and not _in_order(list(item), DOC_SEQUENCES[name]):
                        problems.append(f"{call}.{key} keys {list(item)}")
                    if key == "transactionRequest" and isinstance(item, dict):
                        problems += _order_problems_nested(item)
                break
    return problems


def _order_problems_nested(tx: dict[str, Any]) -> list[str]:
    problems = []
    if "order" in tx and not _in_order(list(tx["order"]), DOC_SEQUENCES["order"]):
        problems.append(f"order keys {list(tx['order'])}")
    for setting in (tx.get("transactionSettings") or {}).get("setting") or []:
        if list(setting) != DOC_SEQUENCES["setting"]:
            problems.append(f"setting keys {list(setting)}")
    return problems


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[RunningServer, Recorder]]:
    from sandbox.authorizenet.server import build_app

    recorder = Recorder(build_app(tmp_path / "anet"))
    with RunningServer(recorder, port=0) as server:
        yield server, recorder


@pytest.fixture
def client(recorded, quick_retry) -> AuthorizeNetProcessor:
    server, _ = recorded
    return AuthorizeNetProcessor(server.url + "/xml/v1/request.api", "login", "key", retry=quick_retry, timeout=5)


def _post(server: RunningServer, body: str) -> dict[str, Any]:
    raw = requests.post(server.url + "/xml/v1/request.api", data=body.encode(),
                        headers={"Content-Type": "application/json"}, timeout=5).content
    assert raw.startswith(b"\xef\xbb\xbf"), "answers start with a UTF-8 BOM"
    return json.loads(raw.decode("utf-8-sig"))


# -- (a) the client -----------------------------------------------------------------------------------

def test_held_for_review_stays_pending_and_is_never_charged_again(client, recorded):
    _, recorder = recorded
    method = client.save_method("Contoso", "ap@contoso.example", "REVIEW-token", "link-r1")
    held = client.charge(method, Decimal("120.00"), "USD", "inv-r1-autocharge")
    assert held.status == PENDING and held.processor_payment_id and "review" in held.error
    # A retry of the same charge is answered by the duplicate window with the original: still pending.
    again = client.charge(method, Decimal("120.00"), "USD", "inv-r1-autocharge")
    assert again.status == PENDING and again.processor_payment_id == held.processor_payment_id
    assert len(recorder.sandbox.transactions) == 1
    recorder.sandbox.release(held.processor_payment_id, approve=True)
    assert client.transaction_status(held.processor_payment_id, Decimal("120.00"), "USD").status == SUCCEEDED
    other = client.charge(client.save_method("F", "f@f.example", "REVIEW-2", "link-r2"), Decimal("5.00"), "USD", "r2")
    recorder.sandbox.release(other.processor_payment_id, approve=False)
    assert client.transaction_status(other.processor_payment_id, Decimal("5.00"), "USD").status == FAILED


def test_a_currency_other_than_the_merchant_accounts_is_refused_before_any_call(client, recorded):
    _, recorder = recorded
    method = client.save_method("Contoso", "ap@contoso.example", "tok", "link-c1")
    before = len(recorder.calls)
    with pytest.raises(ValidationError) as refused:
        client.charge(method, Decimal("10.00"), "EUR", "inv-c1")
    assert "USD" in refused.value.message and "EUR" in refused.value.message
    assert len(recorder.calls) == before
    paid = client.charge(method, Decimal("10.00"), "USD", "inv-c2")
    assert paid.status == SUCCEEDED
    assert recorder.calls[-1].request_json()["createTransactionRequest"]["transactionRequest"]["currencyCode"] == "USD"


def test_a_duplicate_is_answered_with_the_original_transaction(client, recorded):
    method = client.save_method("Contoso", "ap@contoso.example", "tok", "link-d1")
    first = client.charge(method, Decimal("33.30"), "USD", "inv-d1")
    second = client.charge(method, Decimal("33.30"), "USD", "inv-d1")
    assert second.replayed and second.processor_payment_id == first.processor_payment_id
    assert second.status == SUCCEEDED


# -- (b) the sandbox ----------------------------------------------------------------------------------

def test_out_of_order_elements_are_refused_with_e00003(recorded):
    server, _ = recorded
    auth = '"merchantAuthentication":{"name":"l","transactionKey":"k"}'
    tx = ('"transactionRequest":{"transactionType":"authCaptureTransaction","amount":"5.00",'
          '"payment":{"opaqueData":{"dataDescriptor":"COMMON.ACCEPT.INAPP.PAYMENT","dataValue":"x"}},'
          '"billTo":{"zip":"46201"},"order":{"invoiceNumber":"INV-1"}}')
    answer = _post(server, '{"createTransactionRequest":{' + auth + "," + tx + "}}")
    assert answer["messages"]["resultCode"] == "Error" and answer["messages"]["message"][0]["code"] == "E00003"
    assert "invalid child element 'order'" in answer["messages"]["message"][0]["text"]
    swapped = _post(server, '{"createTransactionRequest":{"refId":"r",' + auth + "}}")
    assert swapped["messages"]["message"][0]["code"] == "E00003"
    ordered = tx.replace(',"billTo":{"zip":"46201"},"order":{"invoiceNumber":"INV-1"}',
                         ',"order":{"invoiceNumber":"INV-1"},"billTo":{"zip":"46201"}')
    assert _post(server, '{"createTransactionRequest":{' + auth + "," + ordered + "}}")["messages"]["resultCode"] == "Ok"


def test_the_duplicate_window_names_the_original_only_when_it_was_sent(recorded):
    server, _ = recorded
    auth = '"merchantAuthentication":{"name":"l","transactionKey":"k"}'

    def tx(window: bool) -> str:
        settings = (',"transactionSettings":{"setting":[{"settingName":"duplicateWindow","settingValue":"600"}]}'
                    if window else "")
        return ('{"createTransactionRequest":{' + auth + ',"transactionRequest":{"transactionType":'
                '"authCaptureTransaction","amount":"7.00","payment":{"opaqueData":{"dataDescriptor":"d",'
                '"dataValue":"card-1"}},"order":{"invoiceNumber":"' + ("W" if window else "N") + '"}' + settings + "}}}")

    for window in (True, False):
        first = _post(server, tx(window))["transactionResponse"]
        dup = _post(server, tx(window))["transactionResponse"]
        assert dup["responseCode"] == "3" and dup["errors"][0]["errorCode"] == "11"
        assert dup["transId"] == (first["transId"] if window else "0")


def test_the_merchant_currency_is_enforced(recorded):
    server, _ = recorded
    answer = _post(server, '{"createTransactionRequest":{"merchantAuthentication":{"name":"l","transactionKey":"k"},'
                           '"transactionRequest":{"transactionType":"authCaptureTransaction","amount":"7.00",'
                           '"currencyCode":"EUR","payment":{"opaqueData":{"dataDescriptor":"d","dataValue":"c"}}}}}')
    assert answer["transactionResponse"]["errors"][0]["errorCode"] == "39"


def test_every_call_the_product_makes_matches_on_both_sides(client, recorded, capsys):
    _, recorder = recorded
    method = client.save_method("Contoso", "ap@contoso.example", "tok", "link-e1")
    client.save_method("Contoso", "ap@contoso.example", "tok2", "link-e1")  # the retried save adds a method
    paid = client.charge(method, Decimal("12.34"), "USD", "inv-e1")
    client.charge(method, Decimal("12.34"), "USD", "inv-e1")  # duplicate -> details of the original
    client._find("inv-e1")
    client.transaction_status(paid.processor_payment_id, Decimal("12.34"), "USD")
    documented_response = set(SPEC["transactionResponse_fields"]) | {"messages", "errors"}
    documented_response = {f.split("[")[0] for f in documented_response}
    report: dict[str, list[str]] = {}
    for name in CALLS:
        calls = [c for c in recorder.calls if name in (c.request_json() or {})]
        problems: list[str] = [] if calls else ["never called"]
        for c in calls:
            if not c.response.startswith(b"\xef\xbb\xbf"):
                problems.append("no BOM")
            problems += _order_problems(name, c.request_json()[name])
            answer = c.json()
            if set(answer["messages"]) != {"resultCode", "message"}:
                problems.append("messages shape")
            extra = set(answer.get("transactionResponse") or {}) - documented_response
            if extra:
                problems.append(f"undocumented transactionResponse fields {sorted(extra)}")
            if name == "createCustomerProfileRequest" and answer["messages"]["resultCode"] == "Ok":
                extra = set(answer) - set(SPEC["createCustomerProfileResponse"])
                if extra:
                    problems.append(f"undocumented profile response fields {sorted(extra)}")
            for summary in answer.get("transactions") or []:
                extra = set(summary) - set(SPEC["transactionSummaryType_fields"])
                if extra:
                    problems.append(f"undocumented transaction summary fields {sorted(extra)}")
        report[name] = sorted(set(problems))
    with capsys.disabled():
        print(f"\nAuthorize.Net calls matched on both sides: {sum(not v for v in report.values())}/{len(CALLS)}")
        for name, problems in report.items():
            print(f"  {'pass' if not problems else 'FAIL'}  {name}  {'; '.join(problems)}")
    assert all(not v for v in report.values()), report
