"""Stripe API sandbox: the slice CSPBridge uses (customers, payment method attach, payment
intents confirmed off-session, refunds), in Stripe's wire format: form-encoded requests with
bracketed keys, JSON objects carrying "object", errors as {"error": {type, code, message}},
and Idempotency-Key replay (same key + same parameters -> the stored response with
`Idempotent-Replayed: true`; same key + other parameters -> 400 idempotency_error).
See https://docs.stripe.com/api/idempotent_requests and https://docs.stripe.com/api/errors .

Test payment methods follow Stripe's test tokens: pm_card_visa succeeds,
pm_card_chargeDeclined and pm_card_chargeDeclinedInsufficientFunds are declined.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response

DECLINES = {
    "pm_card_chargeDeclined": ("card_declined", "generic_decline", "Your card was declined."),
    "pm_card_chargeDeclinedInsufficientFunds": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
}


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
        self.refunds: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[str, tuple[str, int, str]] = {}
        self.api_key_prefix = "sk_test_"

    def __call__(self, request: Request) -> Response:
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

    def route(self, request: Request, params: dict[str, Any]) -> Response:  # noqa: PLR0911
        parts = request.path.strip("/").split("/")
        if parts[0] != "v1" or len(parts) < 2:
            return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")
        kind = parts[1]
        if kind == "customers" and request.method == "POST" and len(parts) == 2:
            customer = {"id": _new_id("cus"), "object": "customer", "name": params.get("name"),
                        "email": params.get("email"), "metadata": params.get("metadata", {}),
                        "created": int(time.time()), "livemode": False}
            self.customers[customer["id"]] = customer
            return json_response(customer)
        if kind == "customers" and len(parts) == 3:
            found = self.customers.get(parts[2])
            return json_response(found) if found else self._missing("customer", parts[2])
        if kind == "payment_methods" and len(parts) == 4 and parts[3] == "attach":
            return self.attach(parts[2], params)
        if kind == "payment_intents" and request.method == "POST" and len(parts) == 2:
            return self.create_intent(params)
        if kind == "payment_intents" and len(parts) == 3:
            found = self.intents.get(parts[2])
            return json_response(found) if found else self._missing("payment_intent", parts[2])
        if kind == "refunds" and request.method == "POST":
            return self.refund(params)
        return _error(404, "invalid_request_error", f"Unrecognized request URL ({request.method}: {request.path}).")

    @staticmethod
    def _missing(what: str, ident: str) -> Response:
        return _error(404, "invalid_request_error", f"No such {what}: '{ident}'", "resource_missing",
                      param="id")

    def attach(self, method_token: str, params: dict[str, Any]) -> Response:
        customer = params.get("customer")
        if customer not in self.customers:
            return self._missing("customer", str(customer))
        if not method_token.startswith("pm_"):
            return self._missing("PaymentMethod", method_token)
        # Stripe returns a new pm_ id for test tokens; keep the test behaviour reachable through it.
        method = {"id": _new_id("pm"), "object": "payment_method", "type": "card", "customer": customer,
                  "card": {"brand": "visa", "last4": "4242" if method_token not in DECLINES else "0002"},
                  "_behaviour": method_token}
        self.methods[method["id"]] = method
        return json_response({k: v for k, v in method.items() if not k.startswith("_")})

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
        method_id = params.get("payment_method", "")
        method = self.methods.get(method_id)
        behaviour = method["_behaviour"] if method else method_id
        if method is None and not str(method_id).startswith("pm_card_"):
            return self._missing("payment_method", str(method_id))
        intent = {"id": _new_id("pi"), "object": "payment_intent", "amount": amount, "amount_received": 0,
                  "currency": currency, "customer": params.get("customer"), "payment_method": method_id,
                  "metadata": params.get("metadata", {}), "description": params.get("description"),
                  "created": int(time.time()), "livemode": False, "latest_charge": None,
                  "status": "requires_confirmation"}
        self.intents[intent["id"]] = intent
        if params.get("confirm") != "true":
            return json_response(intent)
        if behaviour in DECLINES:
            code, decline, message = DECLINES[behaviour]
            intent["status"] = "requires_payment_method"
            intent["last_payment_error"] = {"type": "card_error", "code": code, "decline_code": decline,
                                            "message": message}
            return _error(402, "card_error", message, code, decline_code=decline, payment_intent=intent,
                          charge=_new_id("ch"))
        intent.update(status="succeeded", amount_received=amount, latest_charge=_new_id("ch"))
        return json_response(intent)

    def refund(self, params: dict[str, Any]) -> Response:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return _error(400, "invalid_request_error", "This PaymentIntent has no successful charge to refund.",
                          "charge_not_refundable")
        amount = int(params.get("amount", intent["amount_received"]))
        refund = {"id": _new_id("re"), "object": "refund", "amount": amount, "currency": intent["currency"],
                  "payment_intent": intent["id"], "status": "succeeded"}
        self.refunds[refund["id"]] = refund
        return json_response(refund)

    def dump(self) -> str:
        return json.dumps({"intents": list(self.intents.values())}, default=str)


def build_app(state_dir: Path | None = None) -> SandboxApp:
    sandbox = StripeSandbox(state_dir)
    app = SandboxApp(sandbox)
    app.sandbox = sandbox  # type: ignore[attr-defined]
    return app
