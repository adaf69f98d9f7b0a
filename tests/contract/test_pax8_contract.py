"""Pax8 partner API: both sides of every call the product makes, against Pax8's published OpenAPI
(summarised in data/vendors/pax8.json).

(a) The client reads the documented shapes right: partner cost from `partnerCost` and
    `cost`/`costTotal` (the documented invoice item books 27500, not the customer's 550000),
    the commitment term object, usage per period, date-only `createdDate`, paging, error bodies.
(b) The sandbox answers as Pax8 does: the token at /v1/token, numbers as numbers, page envelopes,
    the error body, no idempotency key, provisioning details for Microsoft products.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests

from distributors.base import MicrosoftAcceptance, OrderContext
from distributors.pax8 import Pax8Adapter
from sandbox._server import RunningServer
from shared.errors import NotFoundError, ValidationError
from tests.contract.vendor_wire import Recorder, numbers_are_numbers, undocumented, vendor_spec

pytestmark = pytest.mark.integration

SPEC = vendor_spec("pax8")
UUID = r"[0-9a-f-]{36}"

# Every call the product makes to Pax8: (method, path pattern, documented operation).
CALLS = [
    ("POST", r"/v1/token", "token"),
    ("GET", r"/v1/companies", "company list"),
    ("GET", r"/v1/products", "product list"),
    ("GET", rf"/v1/products/{UUID}/pricing", "pricing"),
    ("GET", rf"/v1/products/{UUID}/dependencies", "dependencies"),
    ("GET", rf"/v1/products/{UUID}/provision-details", "provision_details"),
    ("POST", r"/v1/orders", "order_create"),
    ("GET", r"/v1/orders", "order list"),
    ("GET", r"/v1/subscriptions", "subscription list"),
    ("GET", rf"/v1/subscriptions/{UUID}", "subscription"),
    ("PUT", rf"/v1/subscriptions/{UUID}", "subscription update"),
    ("DELETE", rf"/v1/subscriptions/{UUID}", "subscription cancel"),
    ("GET", r"/v1/invoices", "invoice list"),
    ("GET", rf"/v1/invoices/{UUID}/items", "invoice_item list"),
    ("GET", rf"/v1/subscriptions/{UUID}/usage-summaries", "usage_summary list"),
    ("GET", rf"/v1/usage-summaries/{UUID}/usage-lines", "usage lines"),
]

# The documented invoice item example (Pax8 OpenAPI "invoice-items"): the partner owes costTotal.
DOC_ITEM = {"type": "subscription", "companyId": "cc0ac255-7c0b-4123-ac8d-a6c280b85eae", "startPeriod": "2019-04-01",
            "endPeriod": "2019-05-01", "quantity": 11, "unitOfMeasure": "User", "term": "Monthly",
            "sku": "PAX-233-ukw0-9092", "description": "Microsoft Office E3", "rateType": "single", "chargeType": "per",
            **SPEC["invoice_item"]["example_amounts"], "offeredBy": "Pax8", "billedByPax8": False,
            "productId": "de4ff8a5-e836-4412-89e7-03236c0641c4", "productName": "Microsoft Office E3", "billingFee": 0,
            "billingFeeRate": 0, "currencyCode": "USD", "salesTax": 2200,
            "subscriptionId": "f6b60139-8ab6-45f4-b808-354ebbe53070"}


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[RunningServer, Recorder]]:
    from sandbox.pax8.server import build_app

    recorder = Recorder(build_app(tmp_path / "pax8"))
    with RunningServer(recorder, port=0) as server:
        yield server, recorder


@pytest.fixture
def client(recorded, quick_retry) -> Pax8Adapter:
    server, _ = recorded
    return Pax8Adapter(server.url, "client", "secret", retry=quick_retry, timeout=5)


def _state(recorder: Recorder) -> dict[str, Any]:
    return recorder.app.sandbox.state


def _company(client: Pax8Adapter, name: str) -> str:
    return next(c.id for c in client.list_companies() if c.name == name)


def _product(client: Pax8Adapter, name: str) -> str:
    return next(p.id for p in client.list_products() if p.name == name)


# -- (a) the client reads the documented shapes -----------------------------------------------------

def test_invoice_item_money_matches_the_documented_example_to_the_cent(client, recorded):
    _, recorder = recorded
    state = _state(recorder)
    invoice = {"id": "0b157f32-a423-4fc4-bed0-82ef2f913ab2", "invoiceDate": "2019-05-01", "dueDate": "2019-05-15",
               "status": "Unpaid", "total": 27500, "balance": 27500, "carriedBalance": 0, "currencyCode": "USD"}
    state["invoices"] = [invoice]
    state["invoiceItems"] = [{**DOC_ITEM, "id": "7e1e5f3c-8c1f-4c38-9d43-0a3c5a2b9f10", "invoiceId": invoice["id"]}]
    line = next(client.list_invoice_lines(invoice["id"]))
    assert line.amount == Decimal("27500") and line.unit_cost == Decimal("2500")  # not total=550000, not price
    assert line.quantity == Decimal("11") and line.currency == "USD"
    assert (line.period_start, line.period_end) == (date(2019, 4, 1), date(2019, 5, 1))
    assert next(client.list_invoices()).total == Decimal("27500")


def test_subscription_cost_is_partner_cost_and_the_commitment_is_an_object(client, recorded):
    _, recorder = recorded
    sub = next(s for s in _state(recorder)["subscriptions"] if s["commitmentTerm"])
    sub.update({"price": 15.39, "partnerCost": 11.39, "createdDate": "2020-12-01T13:20:13.153-0700",
                "commitmentTerm": {"id": sub["commitmentTerm"]["id"], "term": "3-Year",
                                   "endDate": "2029-12-31T00:00:00Z"}})
    read = client.get_subscription(sub["id"])
    assert read.unit_cost == Decimal("11.39") and read.unit_price == Decimal("15.39")
    assert read.commitment_term == "P3Y" and read.commitment_end_date == date(2029, 12, 31)


def test_usage_is_read_per_period(client, recorded):
    _, recorder = recorded
    acronis = _product(client, "Acronis Cyber Protect Cloud")
    sub = next(s for s in client.list_subscriptions() if s.product_id == acronis)
    february = list(client.list_usage_lines(sub.id, "2026-02"))
    march = list(client.list_usage_lines(sub.id, "2026-03"))
    assert [(u.quantity, u.amount) for u in february] == [(Decimal("11"), Decimal("33.00"))]
    assert [(u.quantity, u.amount) for u in march] == [(Decimal("4"), Decimal("12.00"))]
    assert february[0].period_start == date(2026, 2, 1) and february[0].period_end == date(2026, 2, 28)
    assert not list(client.list_usage_lines(sub.id, "2026-01"))
    with pytest.raises(ValidationError):
        list(client.list_usage_lines(sub.id, "Feb 2026"))


def test_a_date_only_created_date_reconciles(client, recorded):
    """createdDate "2020-12-01" (no time) is compared by day; the subscription's date-time narrows it."""
    _, recorder = recorded
    state = _state(recorder)
    company, product = _company(client, "Contoso Ltd"), _product(client, "Acronis Cyber Protect Cloud")
    sub = next(s for s in state["subscriptions"] if s["productId"] == product)
    sub["createdDate"] = "2020-12-01"  # documented examples show date-only here too
    state["orders"].append({"id": "8e42de97-6bfe-4db5-864b-d2e4b18c71e2", "companyId": company,
                            "createdDate": "2020-12-01", "isScheduled": False,
                            "lineItems": [{"id": "4915142b-1b3f-4488-9e68-e979dc661130", "productId": product,
                                           "subscriptionId": sub["id"], "billingTerm": "Monthly",
                                           "quantity": sub["quantity"]}]})
    same_day = datetime(2020, 12, 1, 15, 30, tzinfo=UTC)
    found = client.find_orders(company, product, sub["quantity"], "P1M", same_day)
    assert [c.order_id for c in found] == ["8e42de97-6bfe-4db5-864b-d2e4b18c71e2"]
    assert not client.find_orders(company, product, sub["quantity"], "P1M", same_day + timedelta(days=1))
    # A time on the subscription rules the order out when it predates the send.
    sub["createdDate"] = "2020-12-01T08:00:00Z"
    assert not client.find_orders(company, product, sub["quantity"], "P1M", same_day)


def test_paging_walks_every_page_and_stops_on_an_empty_one(client, recorded):
    _, recorder = recorded
    state = _state(recorder)
    state["companies"] += [{"id": f"00000000-0000-4000-8000-{n:012d}", "name": f"Bulk {n}", "website": f"b{n}.example",
                            "status": "Active"} for n in range(401)]
    assert len(list(client.list_companies())) == 404
    pages = [c for c in recorder.matching("GET", r"/v1/companies")]
    assert [c.query for c in pages][-3:] == ["page=0&size=200", "page=1&size=200", "page=2&size=200"]


def test_error_bodies_are_read(client, recorded):
    with pytest.raises(NotFoundError) as missing:
        client.get_subscription("00000000-0000-0000-0000-000000000000")
    assert "Subscription not found" in missing.value.message
    company, basic = _company(client, "Contoso Ltd"), _product(client, "Microsoft 365 Business Basic")
    with pytest.raises(ValidationError) as refused:
        client.place_order(company, basic, 1, "P1M", None, "k")  # a commitment is required
    assert "commitmentTermId" in refused.value.message


def test_microsoft_orders_carry_the_provisioning_details(client, recorded):
    _, recorder = recorded
    company, basic = _company(client, "Northwind Traders"), _product(client, "Microsoft 365 Business Basic")
    bare = client.place_order(company, basic, 2, "P1M", "P1Y", "k1")
    assert client.get_subscription(bare.subscription_ids[0]).status == "Pending"  # WaitingForDetails
    acceptance = MicrosoftAcceptance("Ana", "Ruiz", "ana@northwind.example", date(2026, 1, 5))
    new_tenant = client.place_order(company, basic, 2, "P1M", "P1Y", "k2", context=OrderContext(
        domain="northwind.onmicrosoft.com", acceptance=acceptance))
    assert client.get_subscription(new_tenant.subscription_ids[0]).status == "Active"
    existing = client.place_order(company, basic, 2, "P1M", "P1Y", "k3", context=OrderContext(
        domain="northwind.onmicrosoft.com", tenant_id="0b7e8f3a-3c55-4d1e-9b7d-1f2a3b4c5d6e", acceptance=acceptance))
    assert client.get_subscription(existing.subscription_ids[0]).status == "Active"
    sent = [c.request_json()["lineItems"][0] for c in recorder.matching("POST", r"/v1/orders")]
    assert "provisioningDetails" not in sent[0]
    details = {d["key"]: d["values"] for d in sent[1]["provisioningDetails"]}
    assert details["msDomain"] == ["northwind"] and details["msCustExists"][0].startswith("No")
    assert details["mca2020EffectiveDate"] == ["2026-01-05"] and details["mca2020Email"] == ["ana@northwind.example"]
    existing_details = {d["key"]: d["values"] for d in sent[2]["provisioningDetails"]}
    assert existing_details["msCustExists"][0].startswith("Yes")
    assert existing_details["msTenantId"] == ["0b7e8f3a-3c55-4d1e-9b7d-1f2a3b4c5d6e"]
    documented = set(SPEC["provision_details"]["microsoft_example_keys"])
    assert set(details) <= documented and set(existing_details) <= documented


# -- (b) the sandbox answers as Pax8 does ---------------------------------------------------------

def test_token_path_body_and_errors(recorded):
    server, _ = recorded
    good = {"client_id": "c", "client_secret": "s", "audience": SPEC["token"]["audience_partner"],
            "grant_type": SPEC["token"]["grant_type"]}
    answer = requests.post(server.url + "/v1/token", json=good, timeout=5)
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    assert answer.json()["expires_in"] == 86400 and isinstance(answer.json()["expires_in"], int)
    assert requests.post(server.url + "/oauth/token", json=good, timeout=5).status_code == 404
    assert requests.post(server.url + "/v1/token", json={**good, "client_secret": ""}, timeout=5).status_code == 400
    server.app.sandbox.client_secret_required = "right"
    refused = requests.post(server.url + "/v1/token", json=good, timeout=5)
    assert refused.status_code == 401 and refused.json() == SPEC["token"]["error_401"]
    unauthenticated = requests.get(server.url + "/v1/companies", timeout=5)
    assert unauthenticated.status_code == 401 and set(unauthenticated.json()) == set(SPEC["error"])


def test_no_idempotency_key_is_honoured(client, recorded):
    _, recorder = recorded
    company, product = _company(client, "Contoso Ltd"), _product(client, "Acronis Cyber Protect Cloud")
    token = client._token()
    body = {"companyId": company, "lineItems": [{"productId": product, "lineItemNumber": 1, "quantity": 1,
                                                 "billingTerm": "Monthly"}]}
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "same"}
    server_url = recorder.calls[0].headers.get("Host", "")
    client.place_order(company, product, 1, "P1M", None, "our-reference")
    by_client = list(recorder.calls)
    first = requests.post(f"http://{server_url}/v1/orders", json=body, headers=headers, timeout=5).json()
    second = requests.post(f"http://{server_url}/v1/orders", json=body, headers=headers, timeout=5).json()
    assert first["id"] != second["id"]
    # The client sends none either.
    assert all("Idempotency-Key" not in c.headers for c in by_client)


def test_throttling_and_paging_errors_use_the_pax8_error_body(client, recorded):
    server, recorder = recorded
    token = client._token()
    auth = {"Authorization": f"Bearer {token}"}
    too_big = requests.get(server.url + "/v1/companies", params={"size": 201}, headers=auth, timeout=5)
    assert too_big.status_code == 400 and set(too_big.json()) == set(SPEC["error"])
    recorder.app.faults.set(throttle_every=1, retry_after_seconds=0, path_contains="/v1/companies")
    throttled = requests.get(server.url + "/v1/companies", headers=auth, timeout=5)
    assert throttled.status_code == 429 and set(throttled.json()) == set(SPEC["error"])
    assert throttled.json()["status"] == 429 and throttled.json()["instance"] == "/v1/companies"
    recorder.app.faults.clear()
    no_date = requests.get(server.url + f"/v1/usage-summaries/{_state(recorder)['usageSummaries'][0]['id']}/usage-lines",
                           headers=auth, timeout=5)
    assert no_date.status_code == 400 and "usageDate" in no_date.json()["message"]


def _exercise_every_call(client: Pax8Adapter, recorder: Recorder) -> None:
    companies = list(client.list_companies())
    products = list(client.list_products())
    for p in products:
        client.list_prices(p.id)
    subs = list(client.list_subscriptions())
    for invoice in client.list_invoices():
        list(client.list_invoice_lines(invoice.id))
    for s in subs:
        list(client.list_usage_lines(s.id, "2026-02"))
    company = next(c.id for c in companies if c.name == "Northwind Traders")
    basic = next(p.id for p in products if p.name == "Microsoft 365 Business Basic")
    since = datetime.now(UTC)
    order = client.place_order(company, basic, 3, "P1M", "P1Y", "ref", context=OrderContext(
        domain="northwind.onmicrosoft.com",
        acceptance=MicrosoftAcceptance("Ana", "Ruiz", "ana@northwind.example", date(2026, 1, 5))))
    assert client.find_orders(company, basic, 3, "P1M", since)
    sub_id = order.subscription_ids[0]
    client.change_quantity(sub_id, 5, "ref-q")
    client.cancel(sub_id, "ref-c")


def _check(call_name: str, call: Any) -> list[str]:  # noqa: PLR0911, PLR0912
    """What is wrong with one recorded call against the documented shape ([] = matches)."""
    problems: list[str] = []
    body = call.json() if call.status != 204 else None
    if call_name == "token":
        sent = call.request_json()
        if set(sent) != set(SPEC["token"]["body_required"]) or not call.headers.get("Content-Type", "").startswith(
                SPEC["token"]["content_type"]):
            problems.append(f"token request {sorted(sent)}")
        if set(body) - {"access_token", "token_type", "expires_in", "expires_at", "scope"}:
            problems.append("token response fields")
        return problems
    if not 200 <= call.status < 300:
        return [f"HTTP {call.status}"]
    if call_name.endswith(" list") or call_name in ("usage lines",):
        if set(body) != {"content", "page"} or set(body["page"]) != set(SPEC["paging"]["envelope"]["page"]):
            problems.append("page envelope")
        items = body["content"]
        if "size=200" not in call.query:
            problems.append("page size not the documented maximum")
    elif call_name in ("pricing", "provision_details"):
        items = body["content"]
        if set(body) != {"content"}:
            problems.append("envelope")
    else:
        items = [body] if body is not None else []
    kind = call_name.split(" ")[0]
    for item in items:
        if kind == "company":
            extra = undocumented(item, [*SPEC["company"]["fields"], "contacts"])
        elif kind == "product":
            extra = undocumented(item, SPEC["product"]["fields"])
        elif kind == "pricing":
            extra = undocumented(item, SPEC["pricing"]["fields"])
            for rate in item["rates"]:
                problems += [f"rate.{f} not a number" for f in numbers_are_numbers(rate, (
                    "partnerBuyRate", "suggestedRetailPrice", "startQuantityRange", "endQuantityRange"))]
        elif kind == "dependencies":
            extra = undocumented(item, SPEC["dependencies"]["fields"])
        elif kind == "provision_details":
            extra = undocumented(item, ["label", "key", "valueType", "possibleValues", "description"])
        elif kind in ("order", "order_create"):
            extra = undocumented(item, SPEC["order_create"]["response_200"])
            if "T" in str(item.get("createdDate")):
                problems.append("order createdDate carries a time")
        elif kind == "subscription":
            extra = undocumented(item, SPEC["subscription"]["fields"])
            extra |= {f for f in SPEC["subscription"]["not_documented"] if f in item}
            problems += [f"{f} not a number" for f in numbers_are_numbers(item, ("quantity", "price", "partnerCost"))]
            if item.get("commitmentTerm") is not None and set(item["commitmentTerm"]) != {"id", "term", "endDate"}:
                problems.append("commitmentTerm is not {id, term, endDate}")
        elif kind == "invoice":
            extra = undocumented(item, [*SPEC["invoice"]["fields"], "status"])
            problems += [f"{f} not a number" for f in numbers_are_numbers(item, ("total", "balance", "carriedBalance"))]
        elif kind == "invoice_item":
            documented = [*SPEC["invoice_item"]["fields"], "unitOfMeasure", "rateType", "offeredBy", "billedByPax8",
                          "billingFee", "billingFeeRate", "externalId", "companyName", "purchaseOrderNumber", "details"]
            extra = undocumented(item, documented) - {"invoiceId"}  # the sandbox's own join key
            problems += [f"{f} not a number" for f in numbers_are_numbers(
                item, ("price", "subTotal", "cost", "costTotal", "total", "amountDue", "quantity", "salesTax"))]
        elif kind == "usage_summary":
            extra = undocumented(item, SPEC["usage_summary"]["fields"])
            extra |= {f for f in SPEC["usage_summary"]["not_documented"] if f in item}
        elif kind == "usage":
            extra = undocumented(item, ["usageSummaryId", "usageDate", "productName", "productId", "unitOfMeasure",
                                        "quantity", "currentCharges", "currentProfit", "partnerTotal", "unitPrice",
                                        "currencyCode", "isTrial"])
        else:
            extra = set()
        if extra:
            problems.append(f"undocumented fields {sorted(extra)}")
    if call_name == "order_create":
        sent = call.request_json()
        line = sent["lineItems"][0]
        if set(sent) - set(SPEC["order_create"]["body_required"]) - set(SPEC["order_create"]["body_optional"]):
            problems.append("order body fields")
        allowed = {*SPEC["order_create"]["lineItem_required"], *SPEC["order_create"]["lineItem_optional"]}
        if set(line) - allowed or set(SPEC["order_create"]["lineItem_required"]) - set(line):
            problems.append(f"line item fields {sorted(line)}")
        if "Idempotency-Key" in call.headers:
            problems.append("sends an Idempotency-Key Pax8 does not have")
    return problems


def test_every_call_the_product_makes_matches_on_both_sides(client, recorded, capsys):
    _, recorder = recorded
    _exercise_every_call(client, recorder)
    report = {}
    for method, pattern, name in CALLS:
        calls = recorder.matching(method, pattern)
        report[name] = ["never called"] if not calls else sorted({p for c in calls for p in _check(name, c)})
    unmatched = [f"{c.method} {c.path}" for c in recorder.calls
                 if not any(c.method == m and __import__("re").fullmatch(p, c.path) for m, p, _ in CALLS)]
    with capsys.disabled():
        matched = sum(1 for v in report.values() if not v)
        print(f"\nPax8 calls matched on both sides: {matched}/{len(CALLS)}")
        for name, problems in report.items():
            print(f"  {'pass' if not problems else 'FAIL'}  {name}  {'; '.join(problems)}")
    assert not unmatched, f"calls not in the documented table: {unmatched}"
    assert all(not v for v in report.values()), report


def test_a_revoked_token_is_replaced_once(client, recorded):
    _, recorder = recorded
    assert list(client.list_companies())
    recorder.sandbox.tokens.clear()  # Pax8 no longer takes the cached token
    assert list(client.list_companies())
    assert recorder.sandbox.token_requests == 2
