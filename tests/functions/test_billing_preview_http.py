"""The billing preview HTTP trigger answers what `cspbridge bill preview --subscription` prints."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

from functions.billing_preview_http import billing_preview

pytestmark = pytest.mark.integration


def _call(params: dict[str, str], method: str = "GET", body: bytes = b"") -> func.HttpResponse:
    req = func.HttpRequest(method, "/api/billing/preview", headers={}, params=params, body=body)
    return billing_preview.build().get_user_function()(req)


def test_preview_answers_json_from_the_run_code(billing_env):
    from datetime import date

    from jobs import billing as billing_jobs

    billing_jobs.run(date(2026, 1, 2), assign=False)
    res = _call({"subscription": "demo-sub-e3", "quantity": "20", "date": "2026-01-20"})
    assert res.status_code == 200, res.get_body()
    body = json.loads(res.get_body())
    assert body["now"]["amount"] == "76.65" and body["quantity"] == {"from": 15, "to": 20}
    assert body["nextInvoice"] == {"key": "BC-1001|2026-02-01|cycle", "date": "2026-02-02", "before": "696.19",
                                   "after": "970.84", "difference": "274.65"}
    posted = _call({}, "POST", json.dumps({"subscription": "demo-sub-e3", "quantity": 10, "date": "2026-01-20"}).encode())
    assert posted.status_code == 200 and json.loads(posted.get_body())["quantity"]["to"] == 10


@pytest.mark.parametrize(("params", "status", "words"), [
    ({"quantity": "3"}, 400, "subscription is required"),
    ({"subscription": "demo-sub-e3", "quantity": "three"}, 400, "whole number"),
    ({"subscription": "demo-sub-e3", "quantity": "3", "term": "P2Y"}, 400, "P1M, P1Y or P3Y"),
    ({"subscription": "demo-sub-e3", "quantity": "0"}, 400, "greater than 0"),
    ({"subscription": "missing", "quantity": "3"}, 404, "no subscription"),
])
def test_bad_requests_are_named(billing_env, params, status, words):
    res = _call(params)
    assert res.status_code == status and words in json.loads(res.get_body())["error"]


def test_malformed_body_is_400(billing_env):
    assert _call({}, "POST", b"{not json").status_code == 400
