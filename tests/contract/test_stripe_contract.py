"""Stripe: the sandbox's objects carry the fields of Stripe's fixtures (fixtures3.json), driven by
Stripe's documented test payment methods; and the product handles declines and 3-D Secure: the
invoice stays unpaid, the attempt is recorded with the reason, the customer gets a link."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
import requests

from payments import service
from payments.stripe_adapter import StripeProcessor
from tests.contract.wire import SAMPLES, json_type

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer sk_test_contract"}


def _fixture(kind: str) -> dict[str, Any]:
    return json.loads((SAMPLES / "stripe" / "fixtures3.json").read_text(encoding="utf-8"))["resources"][kind]


def _same_fields(kind: str, obj: dict[str, Any]) -> None:
    """Every fixture field is there; where both sides have a value, it has the fixture's JSON type."""
    fixture = _fixture(kind)
    assert obj["object"] == fixture["object"]
    missing = sorted(set(fixture) - set(obj))
    assert not missing, f"{kind} lacks {missing}"
    wrong = [k for k, v in fixture.items() if v is not None and obj[k] is not None and json_type(v) != json_type(obj[k])]
    assert not wrong, f"{kind}: {[(k, json_type(fixture[k]), json_type(obj[k])) for k in wrong]}"


def _post(server: Any, path: str, data: dict[str, str]) -> requests.Response:
    return requests.post(server.url + path, data=data, headers=AUTH, timeout=10)


def _customer_with(server: Any, card: str) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = _post(server, "/v1/customers", {"name": "Contoso", "email": "ap@contoso.example"}).json()
    method = _post(server, f"/v1/payment_methods/{card}/attach", {"customer": customer["id"]}).json()
    return customer, method


def _intent(server: Any, customer: dict[str, Any], method: dict[str, Any], **extra: str) -> requests.Response:
    return _post(server, "/v1/payment_intents", {"amount": "1099", "currency": "usd", "customer": customer["id"],
                                                 "payment_method": method["id"], "confirm": "true", **extra})


def test_objects_carry_the_fixture_fields(uses_sample, stripe_server):
    uses_sample("stripe/fixtures3.json")
    customer, method = _customer_with(stripe_server, "pm_card_visa")
    _same_fields("customer", customer)
    _same_fields("payment_method", method)
    assert method["card"]["last4"] == "4242" and method["customer"] == customer["id"]
    intent = _intent(stripe_server, customer, method, off_session="true").json()
    _same_fields("payment_intent", intent)
    assert intent["status"] == "succeeded" and intent["client_secret"].startswith(intent["id"] + "_secret_")
    setup = _post(stripe_server, "/v1/setup_intents", {"customer": customer["id"], "payment_method": method["id"],
                                                       "confirm": "true", "usage": "off_session"}).json()
    _same_fields("setup_intent", setup)
    assert setup["status"] == "succeeded" and setup["client_secret"].startswith(setup["id"] + "_secret_")
    refund = _post(stripe_server, "/v1/refunds", {"payment_intent": intent["id"], "amount": "100"}).json()
    _same_fields("refund", refund)
    assert refund["charge"] == intent["latest_charge"] and refund["status"] == "succeeded"


@pytest.mark.parametrize("card,code,decline", [
    ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
    ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
])
def test_declines_carry_last_payment_error(uses_sample, stripe_server, card, code, decline):
    uses_sample("stripe/fixtures3.json")
    customer, method = _customer_with(stripe_server, card)
    response = _intent(stripe_server, customer, method, off_session="true")
    assert response.status_code == 402
    error = response.json()["error"]
    assert (error["type"], error["code"], error["decline_code"]) == ("card_error", code, decline)
    intent = error["payment_intent"]
    _same_fields("payment_intent", intent)
    assert intent["status"] == "requires_payment_method" and intent["last_payment_error"]["code"] == code


def test_3ds_on_session_requires_action_with_next_action(uses_sample, stripe_server):
    uses_sample("stripe/fixtures3.json")
    customer, method = _customer_with(stripe_server, "pm_card_authenticationRequired")
    intent = _intent(stripe_server, customer, method, return_url="https://portal.example/back").json()
    assert intent["status"] == "requires_action" and intent["next_action"]["type"] == "redirect_to_url"
    url = intent["next_action"]["redirect_to_url"]["url"]
    back = requests.get(url, params={"result": "succeed"}, allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith("https://portal.example/back?")
    assert "redirect_status=succeeded" in back.headers["Location"]
    done = requests.get(f"{stripe_server.url}/v1/payment_intents/{intent['id']}", headers=AUTH, timeout=10).json()
    assert done["status"] == "succeeded" and done["amount_received"] == 1099
    # Off-session the same card cannot be authenticated: 402 authentication_required.
    refused = _intent(stripe_server, customer, method, off_session="true")
    assert refused.status_code == 402 and refused.json()["error"]["code"] == "authentication_required"
    # A card that wants 3-D Secure at setup only: setup asks, later off-session payments go through.
    customer2, method2 = _customer_with(stripe_server, "pm_card_authenticationRequiredOnSetup")
    setup = _post(stripe_server, "/v1/setup_intents", {"customer": customer2["id"], "payment_method": method2["id"],
                                                       "confirm": "true"}).json()
    assert setup["status"] == "requires_action" and setup["next_action"]["type"] == "use_stripe_sdk"
    assert _intent(stripe_server, customer2, method2, off_session="true").json()["status"] == "succeeded"


@pytest.fixture
def stripe(stripe_server, quick_retry) -> StripeProcessor:
    return StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=5.0,
                           return_url="https://portal.example/invoices")


def test_product_keeps_the_invoice_unpaid_and_sends_an_authentication_link(uses_sample, dv, seed_invoice, stripe):
    uses_sample("stripe/fixtures3.json")
    token = stripe.save_method("Contoso", "ap@contoso.example", "pm_card_authenticationRequired", "seed-3ds").token()
    ids = seed_invoice(token=token)
    outcome = service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    assert outcome.status == "requires_action" and outcome.balance == outcome.amount > 0
    assert "/_sandbox/3ds/" in outcome.action_url
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['invoice']}")
    assert row["cspb_status"] == 1 and "3-D Secure" in row["cspb_error"] and outcome.action_url in row["cspb_error"]
    invoice = dv.get("invoices", ids["invoice"])
    assert Decimal(str(invoice["cspb_amountpaid"])) == 0
    assert service.settle_held(dv=dv, processors={"stripe": stripe})[0]["status"] == "pending"
    # The customer follows the link and passes 3-D Secure; the next settle records the payment.
    requests.get(outcome.action_url, params={"result": "succeed"}, allow_redirects=False, timeout=10)
    assert service.settle_held(dv=dv, processors={"stripe": stripe})[0]["status"] == "succeeded"
    assert Decimal(str(dv.get("invoices", ids["invoice"])["cspb_balance"])) == 0


def test_product_records_a_decline_with_its_reason(uses_sample, dv, seed_invoice, stripe):
    uses_sample("stripe/fixtures3.json")
    token = stripe.save_method("Contoso", "ap@contoso.example", "pm_card_chargeDeclinedInsufficientFunds",
                               "seed-decline").token()
    ids = seed_invoice(token=token)
    outcome = service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    assert outcome.status == "failed" and outcome.balance == outcome.amount
    (row,) = dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['invoice']}")
    assert row["cspb_status"] == 3 and "insufficient funds" in row["cspb_error"]
