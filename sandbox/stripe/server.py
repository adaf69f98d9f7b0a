"""Stripe API sandbox: the slice CSPBridge uses (customers, payment method attach, payment
intents confirmed off-session, refunds), in Stripe's wire format: form-encoded requests with
bracketed keys, JSON objects carrying "object", errors as {"error": {type, code, message}},
and Idempotency-Key replay (same key + same parameters -> the stored response with
`Idempotent-Replayed: true`; same key + other parameters -> 400 idempotency_error).
See https://docs.stripe.com/api/idempotent_requests and https://docs.stripe.com/api/errors .

Test payment methods follow Stripe's test tokens (TEST_METHODS): pm_card_visa succeeds, the
pm_card_chargeDeclined* family is declined (402 + last_payment_error), pm_card_authenticationRequired
needs 3-D Secure (off-session: 402 authentication_required; on-session: requires_action + next_action,
finished at /_sandbox/3ds/<id>). Objects carry the fields of Stripe's fixtures (client_secret ...).
Setup intents: https://docs.stripe.com/api/setup_intents ; 3-D Secure: https://docs.stripe.com/payments/3d-secure
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response
from sandbox._webhooks import WebhookSender
from sandbox.stripe import checkout

# Stripe's documented test payment methods (https://docs.stripe.com/testing): brand, last4 and what
# happens when a payment (or setup) is confirmed with them.
TEST_METHODS: dict[str, dict[str, str]] = {
    "pm_card_visa": {"brand": "visa", "last4": "4242"},
    "pm_card_mastercard": {"brand": "mastercard", "last4": "4444"},
    "pm_card_amex": {"brand": "amex", "last4": "8431"},
    "pm_card_chargeDeclined": {"brand": "visa", "last4": "0002", "decline": "generic_decline"},
    "pm_card_chargeDeclinedInsufficientFunds": {"brand": "visa", "last4": "9995", "decline": "insufficient_funds"},
    "pm_card_chargeDeclinedExpiredCard": {"brand": "visa", "last4": "0069", "decline": "expired_card"},
    # 3-D Secure on every payment: off-session confirms fail with authentication_required,
    # on-session ones need the customer (status requires_action + next_action).
    "pm_card_authenticationRequired": {"brand": "visa", "last4": "3184", "auth": "always"},
    # 3-D Secure once, when the card is set up; later off-session payments go through.
    "pm_card_authenticationRequiredOnSetup": {"brand": "visa", "last4": "3155", "auth": "setup"},
    "pm_card_visa_debit": {"brand": "visa", "last4": "5556"},
    "pm_card_chargeDeclinedIncorrectCvc": {"brand": "visa", "last4": "0127", "decline": "incorrect_cvc"},
    "pm_card_chargeDeclinedProcessingError": {"brand": "visa", "last4": "0119", "decline": "processing_error"},
    # Attaches (and sets up) fine; every later charge is declined.
    "pm_card_chargeCustomerFail": {"brand": "visa", "last4": "0341", "charge_decline": "generic_decline"},
    # Already set up for off-session use: off-session payments go through without 3-D Secure.
    "pm_card_authenticationRequiredSetupForOffSession": {"brand": "visa", "last4": "0446"},
    "pm_card_authenticationRequiredChargeDeclinedInsufficientFunds": {
        "brand": "visa", "last4": "3178", "auth": "always", "charge_decline": "insufficient_funds"},
    "pm_card_threeDSecure2Required": {"brand": "visa", "last4": "3220", "auth": "always"},
}
DECLINE_MESSAGES = {
    "generic_decline": ("card_declined", "Your card was declined."),
    "insufficient_funds": ("card_declined", "Your card has insufficient funds."),
    "expired_card": ("expired_card", "Your card has expired."),
    "incorrect_cvc": ("incorrect_cvc", "Your card's security code is incorrect."),
    "processing_error": ("processing_error", "An error occurred while processing your card. Try again in a little bit."),
    "authentication_required": ("authentication_required",
                                "Your card was declined. This transaction requires authentication."),
}
DECLINES = {token: v["decline"] for token, v in TEST_METHODS.items() if "decline" in v}


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _error(status: int, type_: str, message: str, code: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": type_, "message": message}
    if code:
        body["code"] = code
    body.update(extra)
    return json_response({"error": body}, status)


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """a[b][c]=1 -> {"a": {"b": {"c": "1"}}}; a[0]=x -> {"a": {"0": "x"}} (enough for this API)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


class StripeSandbox:
    def __init__(self, state_dir: Path | None) -> None:
        self.lock = threading.RLock()
        self.customers: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}
        self.intents: dict[str, dict[str, Any]] = {}
        self.setup_intents: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.webhooks = WebhookSender(_stripe_signature)
        self.idempotency: dict[str, tuple[str, int, str]] = {}
        self.api_key_prefix = "sk_test_"
        self.host_url = ""

    def __call__(self, request: Request) -> Response:
        self.host_url = request.host_url.rstrip("/")
        if request.path.startswith("/c/pay/"):
            # Checkout's hosted page, opened by the customer's browser (no API key there).
            with self.lock:
                return checkout.hosted_page(self, request)
        if request.path.startswith("/_sandbox/3ds/"):
            # The bank's authentication page the customer's browser visits (no API key there).
            with self.lock:
                return self.authenticate(request)
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer " + self.api_key_prefix):
            return _error(401, "invalid_request_error", "Invalid API Key provided.")
        params = parse_form(list(request.form.items(multi=True))) if request.method == "POST" else {}
        key = request.headers.get("Idempotency-Key")
        fingerprint = hashlib.sha256(f"{request.method} {request.path} {sorted(request.form.items(multi=True))}"
                                     .encode()).hexdigest()
        with self.lock:
            if key and request.method == "POST":
                stored = self.idempotency.get(key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        return _error(400, "idempotency_error", "Keys for idempotent requests can only be used "
                                      "with the same parameters they were first used with.")
                    return Response(stored[2], status=stored[1], content_type="application/json",
                                    headers={"Idempotent-Replayed": "true", "Idempotency-Key": key})
            response = self.route(request, params)
            if key and request.method == "POST" and response.status_code < 500:
                self.idempotency[key] = (fingerprint, response.status_code, response.get_data(as_text=True))
            return response

    def route(self, request: Request, params: dict[str, Any]) -> Response:  # noqa: PLR0911, PLR0912
        parts = request.path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")
        kind, post = parts[1], request.method == "POST"
        if kind == "customers" and post and len(parts) == 2:
            customer = _customer(params)
            self.customers[customer["id"]] = customer
            return json_response(customer)
        if kind == "customers" and len(parts) == 3:
            found = self.customers.get(parts[2])
            return json_response(found) if found else self._missing("customer", parts[2])
        if kind == "payment_methods" and len(parts) == 4 and parts[3] == "attach":
            return self.attach(parts[2], params)
        if kind == "payment_methods" and len(parts) == 3:
            found = self.methods.get(parts[2])
            return json_response(_public(found)) if found else self._missing("payment_method", parts[2])
        if kind == "payment_intents" and post and len(parts) == 2:
            return self.create_intent(params)
        if kind == "payment_intents" and len(parts) == 3:
            found = self.intents.get(parts[2])
            return json_response(found) if found else self._missing("payment_intent", parts[2])
        if kind == "payment_intents" and post and len(parts) == 4 and parts[3] == "confirm":
            found = self.intents.get(parts[2])
            return self.confirm(found, params) if found else self._missing("payment_intent", parts[2])
        if kind == "payment_intents" and post and len(parts) == 4 and parts[3] == "cancel":
            found = self.intents.get(parts[2])
            return self.cancel_intent(found, params) if found else self._missing("payment_intent", parts[2])
        if kind == "setup_intents" and post and len(parts) == 2:
            return self.create_setup_intent(params)
        if kind == "setup_intents" and len(parts) == 3:
            found = self.setup_intents.get(parts[2])
            return json_response(found) if found else self._missing("setup_intent", parts[2])
        if kind == "setup_intents" and post and len(parts) == 4 and parts[3] == "confirm":
            found = self.setup_intents.get(parts[2])
            return self.confirm_setup(found, params) if found else self._missing("setup_intent", parts[2])
        if kind == "refunds" and post:
            return self.refund(params)
        if kind == "checkout" and len(parts) >= 3 and parts[2] == "sessions":
            return checkout.route(self, request, parts, params)
        if kind == "webhook_endpoints" and post and len(parts) == 2:
            return json_response(self.add_webhook_endpoint(params))
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")

    @staticmethod
    def _missing(what: str, ident: str) -> Response:
        return _error(404, "invalid_request_error", f"No such {what}: '{ident}'", "resource_missing",
                      param="id")

    # ---------------------------------------------------------------- payment methods
    def _method(self, ref: str) -> dict[str, Any] | None:
        """A stored method, or one of Stripe's test tokens used directly (pm_card_visa, ...)."""
        if ref in self.methods:
            return self.methods[ref]
        if ref in TEST_METHODS:
            method = _payment_method(ref, None)
            self.methods[method["id"]] = method
            return method
        return None

    def attach(self, method_token: str, params: dict[str, Any]) -> Response:
        customer = params.get("customer")
        if customer not in self.customers:
            return self._missing("customer", str(customer))
        if not method_token.startswith("pm_"):
            return self._missing("PaymentMethod", method_token)
        if method_token in self.methods:
            method = self.methods[method_token]
            method["customer"] = customer
        else:
            # Stripe returns a new pm_ id for a test token; the test behaviour stays with it.
            method = _payment_method(method_token, str(customer))
            self.methods[method["id"]] = method
        return json_response(_public(method))

    # ---------------------------------------------------------------- payment intents
    def create_intent(self, params: dict[str, Any]) -> Response:
        try:
            amount = int(params.get("amount", ""))
        except ValueError:
            return _error(400, "invalid_request_error", "Invalid integer: amount", "parameter_invalid_integer",
                          param="amount")
        if amount < 1:
            return _error(400, "invalid_request_error", "Amount must be at least 1", "amount_too_small",
                          param="amount")
        currency = str(params.get("currency", "")).lower()
        if len(currency) != 3:
            return _error(400, "invalid_request_error", "Missing required param: currency.", "parameter_missing",
                          param="currency")
        method_ref = str(params.get("payment_method", "") or "")
        method = self._method(method_ref) if method_ref else None
        if method_ref and method is None:
            return self._missing("payment_method", method_ref)
        intent = _payment_intent(amount, currency, params, method["id"] if method else None)
        self.intents[intent["id"]] = intent
        if params.get("confirm") != "true":
            return json_response(intent)
        return self.confirm(intent, params)

    def confirm(self, intent: dict[str, Any], params: dict[str, Any]) -> Response:
        """Confirm: succeed, decline (402 + last_payment_error), or ask for 3-D Secure. Off-session
        a 3-D Secure card fails with authentication_required; on-session it answers requires_action
        with next_action (redirect_to_url when a return_url is given)."""
        if intent["status"] in ("succeeded", "canceled"):
            return _error(400, "invalid_request_error", f"This PaymentIntent's status is {intent['status']}.",
                          "payment_intent_unexpected_state", payment_intent=intent)
        if params.get("payment_method"):
            method = self._method(str(params["payment_method"]))
            if method is None:
                return self._missing("payment_method", str(params["payment_method"]))
            intent["payment_method"] = method["id"]
        method = self.methods.get(intent.get("payment_method") or "")
        if method is None:
            return _error(400, "invalid_request_error", "You cannot confirm this PaymentIntent because it's missing "
                          "a payment method.", "payment_intent_unexpected_state", payment_intent=intent)
        behaviour = TEST_METHODS.get(method["_behaviour"], {})
        intent.update(last_payment_error=None, next_action=None)
        off_session = str(params.get("off_session", "")).lower() == "true"
        declines = behaviour.get("decline") or behaviour.get("charge_decline")
        if (declines and behaviour.get("auth") != "always") or (behaviour.get("auth") == "always" and off_session):
            reason = str(declines) if behaviour.get("auth") != "always" else "authentication_required"
            code, message = DECLINE_MESSAGES[reason]
            charge = _new_id("ch")
            intent.update(status="requires_payment_method", latest_charge=charge, last_payment_error={
                "type": "card_error", "code": code, "decline_code": reason, "message": message, "charge": charge,
                "doc_url": f"https://docs.stripe.com/error-codes/{code.replace('_', '-')}",
                "payment_method": _public(method)})
            return _error(402, "card_error", message, code, decline_code=reason, payment_intent=intent, charge=charge,
                          doc_url=intent["last_payment_error"]["doc_url"])
        if behaviour.get("auth") == "always":
            intent["status"] = "requires_action"
            intent["next_action"] = self._next_action("pi", intent["id"], params.get("return_url"))
            return json_response(intent)
        intent.update(status="succeeded", amount_received=intent["amount"], latest_charge=_new_id("ch"))
        return json_response(intent)

    def cancel_intent(self, intent: dict[str, Any], params: dict[str, Any]) -> Response:
        """Cancellable while it waits (requires_payment_method/_confirmation/_action, processing)."""
        if intent["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action",
                                    "requires_capture", "processing"):
            return _error(400, "invalid_request_error", "You cannot cancel this PaymentIntent because it has a "
                          f"status of {intent['status']}.", "payment_intent_unexpected_state", payment_intent=intent)
        intent.update(status="canceled", next_action=None, canceled_at=int(time.time()),
                      cancellation_reason=params.get("cancellation_reason"))
        self.emit("payment_intent.canceled", dict(intent))
        return json_response(intent)

    def _next_action(self, kind: str, ident: str, return_url: Any) -> dict[str, Any]:
        url = f"{self.host_url}/_sandbox/3ds/{ident}"
        if return_url:
            return {"type": "redirect_to_url",
                    "redirect_to_url": {"url": f"{url}?return_url={quote(str(return_url), safe='')}",
                                        "return_url": str(return_url)}}
        return {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect", "stripe_js": url,
                                                             "source": f"src_{ident[-12:]}"}}

    def authenticate(self, request: Request) -> Response:
        """`/_sandbox/3ds/<pi_or_seti>`: the bank's test page (Complete / Fail, like Stripe's 3D Secure 2 test
        page); `?result=succeed|fail` is the customer's answer, after which they are sent back to the
        return_url with Stripe's query parameters."""
        ident = request.path.rsplit("/", 1)[-1]
        intent = self.intents.get(ident) or self.setup_intents.get(ident)
        if intent is None or intent["status"] != "requires_action":
            return Response("Nothing to authenticate.", status=404, content_type="text/plain")
        if request.args.get("result") not in ("succeed", "fail"):
            return checkout.bank_challenge(request.path, request.args.get("return_url", ""))
        passed = request.args.get("result") == "succeed"
        error_key = "last_payment_error" if intent["object"] == "payment_intent" else "last_setup_error"
        if passed:
            intent.update(status="succeeded", next_action=None)
            if intent["object"] == "payment_intent":
                intent.update(amount_received=intent["amount"], latest_charge=_new_id("ch"))
        else:
            intent.update(status="requires_payment_method", next_action=None)
            intent[error_key] = {"type": "invalid_request_error", "code": f"{intent['object']}_authentication_failure",
                                 "message": "The provided PaymentMethod has failed authentication."}
        # Stripe tells the webhook endpoints how the customer-facing step ended.
        kind = "payment_intent" if intent["object"] == "payment_intent" else "setup_intent"
        self.emit(f"{kind}.succeeded" if passed else
                  ("payment_intent.payment_failed" if kind == "payment_intent" else "setup_intent.setup_failed"),
                  dict(intent))
        back = request.args.get("return_url")
        if not back:
            return Response(f"Authentication {'complete' if passed else 'failed'}.", content_type="text/plain")
        field = "payment_intent" if intent["object"] == "payment_intent" else "setup_intent"
        target = (f"{back}{'&' if '?' in back else '?'}{field}={ident}&{field}_client_secret="
                  f"{quote(intent['client_secret'])}&redirect_status={'succeeded' if passed else 'failed'}")
        return Response(status=302, headers={"Location": target})

    # ---------------------------------------------------------------- setup intents
    def create_setup_intent(self, params: dict[str, Any]) -> Response:
        customer = params.get("customer")
        if customer and customer not in self.customers:
            return self._missing("customer", str(customer))
        setup = _setup_intent(params)
        self.setup_intents[setup["id"]] = setup
        if params.get("payment_method"):
            method = self._method(str(params["payment_method"]))
            if method is None:
                return self._missing("payment_method", str(params["payment_method"]))
            setup["payment_method"] = method["id"]
            setup["status"] = "requires_confirmation"
        if params.get("confirm") != "true":
            return json_response(setup)
        return self.confirm_setup(setup, params)

    def confirm_setup(self, setup: dict[str, Any], params: dict[str, Any]) -> Response:
        if params.get("payment_method"):
            method = self._method(str(params["payment_method"]))
            if method is None:
                return self._missing("payment_method", str(params["payment_method"]))
            setup["payment_method"] = method["id"]
        method = self.methods.get(setup.get("payment_method") or "")
        if method is None:
            return _error(400, "invalid_request_error", "You cannot confirm this SetupIntent because it's missing a "
                          "payment method.", "setup_intent_unexpected_state", setup_intent=setup)
        behaviour = TEST_METHODS.get(method["_behaviour"], {})
        if "decline" in behaviour:
            code, message = DECLINE_MESSAGES[behaviour["decline"]]
            setup.update(status="requires_payment_method", last_setup_error={
                "type": "card_error", "code": code, "decline_code": behaviour["decline"], "message": message})
            return _error(402, "card_error", message, code, decline_code=behaviour["decline"], setup_intent=setup)
        if behaviour.get("auth") in ("always", "setup"):
            setup["status"] = "requires_action"
            setup["next_action"] = self._next_action("seti", setup["id"], params.get("return_url"))
            return json_response(setup)
        if setup.get("customer"):
            method["customer"] = setup["customer"]
        setup.update(status="succeeded", next_action=None)
        return json_response(setup)

    # ---------------------------------------------------------------- refunds
    def refund(self, params: dict[str, Any]) -> Response:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "This PaymentIntent has no successful charge to refund.",
                          "charge_not_refundable")
        amount = int(params.get("amount", intent["amount_received"]))
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "balance_transaction": _new_id("txn"),
                  "charge": intent["latest_charge"], "created": int(time.time()), "currency": intent["currency"],
                  "customer": intent["customer"], "customer_account": None,
                  "destination_details": {"type": "card", "card": {"type": "refund"}},
                  "metadata": params.get("metadata", {}), "payment_intent": intent["id"],
                  "payment_method": intent["payment_method"], "reason": params.get("reason"),
                  "receipt_number": None, "source_transfer_reversal": None, "status": "succeeded",
                  "transfer_reversal": None}
        self.refunds[refund["id"]] = refund
        return json_response(refund)

    def add_webhook_endpoint(self, params: dict[str, Any]) -> dict[str, Any]:
        """`POST /v1/webhook_endpoints`: Stripe answers the endpoint's signing `secret` (whsec_...) once, here."""
        raw = params.get("enabled_events") or "*"
        events = list(raw.values()) if isinstance(raw, dict) else [raw]
        endpoint = {"id": _new_id("we"), "object": "webhook_endpoint", "api_version": None, "application": None,
                    "created": int(time.time()), "description": params.get("description"), "enabled_events": events,
                    "livemode": False, "metadata": params.get("metadata", {}),
                    "secret": "whsec_" + secrets.token_hex(16), "status": "enabled", "url": params.get("url")}
        self.webhooks.endpoints.append({"url": endpoint["url"], "events": events, "enabled": True,
                                        "secret": endpoint["secret"]})
        return endpoint

    def emit(self, kind: str, obj: dict[str, Any]) -> None:
        """Queue a Stripe event for every webhook endpoint subscribed to `kind`."""
        self.webhooks.send({"id": _new_id("evt"), "object": "event", "api_version": "2024-06-20",
                            "created": int(time.time()), "data": {"object": obj}, "livemode": False,
                            "pending_webhooks": len(self.webhooks.endpoints), "request": {"id": None,
                                                                                         "idempotency_key": None},
                            "type": kind})

    def dump(self) -> str:
        return json.dumps({"intents": list(self.intents.values())}, default=str)


def _stripe_signature(endpoint: dict[str, Any], body: bytes) -> dict[str, str]:
    """`Stripe-Signature: t=<unix>,v1=<hex>`: HMAC-SHA256 of "<t>.<raw body>" with the endpoint's secret
    (https://docs.stripe.com/webhooks#verify-manually)."""
    t = int(time.time())
    signature = hmac.new(endpoint["secret"].encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={signature}", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}


def _public(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _customer(params: dict[str, Any]) -> dict[str, Any]:
    """Customer with the fields of Stripe's fixture (fixtures3.json `customer`)."""
    return {"id": _new_id("cus"), "object": "customer",
            "address": None, "balance": 0, "created": int(time.time()), "currency": None, "default_source": None,
            "delinquent": False, "description": params.get("description"), "discount": None,
            "email": params.get("email"), "invoice_prefix": secrets.token_hex(4).upper()[:7],
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": params.get("metadata", {}), "name": params.get("name"),
            "next_invoice_sequence": 1, "phone": params.get("phone"), "preferred_locales": [], "shipping": None,
            "tax_exempt": "none", "test_clock": None}


def _payment_method(token: str, customer: str | None) -> dict[str, Any]:
    test = TEST_METHODS.get(token, TEST_METHODS["pm_card_visa"])
    return {"id": _new_id("pm"), "object": "payment_method", "allow_redisplay": "unspecified",
            "billing_details": {"address": {"city": None, "country": None, "line1": None, "line2": None,
                                            "postal_code": None, "state": None},
                                "email": None, "name": None, "phone": None, "tax_id": None},
            "card": {"brand": test["brand"], "checks": {"address_line1_check": None, "address_postal_code_check": None,
                                                        "cvc_check": "pass"},
                     "country": "US", "display_brand": test["brand"], "exp_month": 12, "exp_year": 2034,
                     "fingerprint": hashlib.sha256(token.encode()).hexdigest()[:16], "funding": "credit",
                     "generated_from": None, "last4": test["last4"],
                     "networks": {"available": [test["brand"]], "preferred": None},
                     "three_d_secure_usage": {"supported": True}, "wallet": None, "regulated_status": "unregulated"},
            "created": int(time.time()), "customer": customer, "customer_account": None, "livemode": False,
            "metadata": {}, "type": "card", "_behaviour": token}


def _payment_intent(amount: int, currency: str, params: dict[str, Any], method_id: str | None) -> dict[str, Any]:
    """PaymentIntent with the fields of Stripe's fixture (fixtures3.json `payment_intent`)."""
    ident = _new_id("pi")
    return {"id": ident, "object": "payment_intent", "amount": amount, "amount_capturable": 0,
            "amount_details": {"tip": {}}, "amount_received": 0, "application": None, "application_fee_amount": None,
            "automatic_payment_methods": None, "canceled_at": None, "cancellation_reason": None,
            "capture_method": "automatic", "client_secret": f"{ident}_secret_{secrets.token_hex(12)}",
            "confirmation_method": "automatic", "created": int(time.time()), "currency": currency,
            "customer": params.get("customer"), "customer_account": None, "description": params.get("description"),
            "excluded_payment_method_types": None, "last_payment_error": None, "latest_charge": None,
            "livemode": False, "managed_payments": None, "metadata": params.get("metadata", {}), "next_action": None,
            "on_behalf_of": None, "payment_method": method_id, "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"], "processing": None, "receipt_email": params.get("receipt_email"),
            "review": None, "setup_future_usage": params.get("setup_future_usage"), "shipping": None, "source": None,
            "statement_descriptor": None, "statement_descriptor_suffix": None,
            "status": "requires_confirmation" if method_id else "requires_payment_method",
            "transfer_data": None, "transfer_group": None}


def _setup_intent(params: dict[str, Any]) -> dict[str, Any]:
    """SetupIntent with the fields of Stripe's fixture (fixtures3.json `setup_intent`)."""
    ident = _new_id("seti")
    return {"id": ident, "object": "setup_intent", "application": None, "automatic_payment_methods": None,
            "cancellation_reason": None, "client_secret": f"{ident}_secret_{secrets.token_hex(12)}",
            "created": int(time.time()), "customer": params.get("customer"), "description": params.get("description"),
            "excluded_payment_method_types": None, "flow_directions": None, "last_setup_error": None,
            "latest_attempt": None, "livemode": False, "mandate": None, "metadata": params.get("metadata", {}),
            "next_action": None, "on_behalf_of": None, "payment_method": None,
            "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
            "payment_method_types": ["card"], "single_use_mandate": None, "status": "requires_payment_method",
            "usage": params.get("usage", "off_session")}


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = StripeSandbox(state_dir)
    app = SandboxApp(sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
