"""Stripe through the official SDK (stripe==16.1.0), with its HTTP routed through
shared.http.HttpClient so retries, Retry-After and redaction behave like every other client.

Charges are PaymentIntents created with confirm=true and off_session=true against a stored
customer + payment method (https://docs.stripe.com/payments/save-and-reuse). Every POST
carries our own Idempotency-Key, which Stripe replays for 24 h
(https://docs.stripe.com/api/idempotent_requests): the HTTP layer re-sends the same key after a
timeout, so a lost response never charges twice. Amounts go in the currency's minor unit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from typing import Any

import stripe

from billing.money import minor_units, round_money
from payments.base import (
    FAILED,
    METADATA_PAYMENT_KEY,
    METADATA_REFERENCE,
    PENDING,
    REQUIRES_ACTION,
    SUCCEEDED,
    CardEntryIncomplete,
    ChargeResult,
    HostedForm,
    SavedCard,
    StoredMethod,
)
from shared.config import Settings, get_settings
from shared.errors import (
    AuthError,
    ConflictError,
    FatalError,
    IntegrationError,
    RetriableError,
    ThrottledError,
    ValidationError,
)
from shared.http import RETRY_STATUSES, HttpClient, RetryPolicy

_PASS_THROUGH = tuple(s for s in range(200, 600) if s not in RETRY_STATUSES)


class _SharedHttp(stripe.HTTPClient):
    """Adapts shared.http.HttpClient to the SDK's transport interface.

    Non-retriable statuses are handed back to the SDK, which turns Stripe's error bodies into
    its own exceptions; 408/429/5xx and connection errors are retried by HttpClient."""

    name = "cspbridge-shared-http"

    def __init__(self, http: HttpClient) -> None:
        super().__init__()
        self.http = http

    def request(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                *, _usage: Any = None) -> tuple[str, int, Mapping[str, str]]:
        response = self.http.request(method.upper(), url, data=post_data, headers=dict(headers or {}),
                                     ok=_PASS_THROUGH, auth=False)
        return response.text, response.status_code, response.headers

    def request_stream(self, method: str, url: str, headers: Mapping[str, str] | None, post_data: Any = None,
                       *, _usage: Any = None) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("streaming is not used")

    def close(self) -> None:
        return None


def to_minor(amount: Decimal, currency: str) -> int:
    return int(round_money(amount, currency).scaleb(minor_units(currency)))


def _from_minor(value: int, currency: str) -> Decimal:
    return Decimal(value).scaleb(-minor_units(currency))


def _translate(exc: stripe.StripeError) -> IntegrationError:
    message = exc.user_message or str(exc)
    code = getattr(exc, "code", None)
    if isinstance(exc, stripe.RateLimitError):
        return ThrottledError(message, status=429, code=code)
    if isinstance(exc, stripe.APIConnectionError):
        return RetriableError(message, code=code)
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return AuthError("Stripe refused the API key", status=exc.http_status, code=code)
    if isinstance(exc, stripe.IdempotencyError):
        return ConflictError(message, status=exc.http_status, code="idempotency_error")
    if isinstance(exc, stripe.InvalidRequestError):
        return ValidationError(message, status=exc.http_status, code=code)
    if exc.http_status and exc.http_status >= 500:
        return RetriableError(message, status=exc.http_status, code=code)
    return FatalError(message, status=exc.http_status, code=code)


class StripeProcessor:
    name = "stripe"
    cancels_payments = True

    def __init__(self, api_key: str, *, api_base: str = "https://api.stripe.com", retry: RetryPolicy | None = None,
                 timeout: float = 60.0, return_url: str = "") -> None:
        if not api_key:
            raise AuthError("Stripe API key is not configured")
        # Where the customer lands after 3-D Secure when a charge names no page of its own (charge_invoice
        # names the invoice's); Stripe sends them back with the outcome.
        self.return_url = return_url
        self.http = HttpClient(api_base, retry=retry or RetryPolicy(), timeout=timeout)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base.rstrip("/")},
                                          max_network_retries=0, http_client=_SharedHttp(self.http))

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> StripeProcessor:
        s = settings or get_settings()
        key = s.stripe_api_key.reveal() or ("sk_test_sandbox" if s.mode == "sandbox" else "")
        return cls(key, api_base=s.stripe_api_base, timeout=s.http_timeout_seconds, return_url=s.portal_base_url,
                   retry=RetryPolicy(max_attempts=s.http_max_attempts, cap_seconds=s.http_backoff_cap_seconds))

    def save_method(self, customer_name: str, email: str, method_token: str, idempotency_key: str) -> StoredMethod:
        try:
            customer = self.client.v1.customers.create(
                params={"name": customer_name, "email": email},
                options={"idempotency_key": f"{idempotency_key}-customer"})
            method = self.client.v1.payment_methods.attach(
                method_token, params={"customer": customer.id},
                options={"idempotency_key": f"{idempotency_key}-attach"})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return StoredMethod(self.name, customer.id, method.id)

    def create_customer(self, customer_name: str, email: str, idempotency_key: str, *, reference: str = "") -> str:
        try:
            customer = self.client.v1.customers.create(params={"name": customer_name, "email": email,
                                                               "metadata": {"billing_contract": reference}},
                                                       options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return str(customer.id)

    def start_card_entry(self, *, customer_ref: str, currency: str, success_url: str, cancel_url: str,
                         reference: str, contract_number: str, idempotency_key: str, locale: str = "auto") -> HostedForm:
        """A Checkout Session in setup mode (https://docs.stripe.com/payments/save-and-reuse?payment-ui=
        stripe-hosted): the customer types the card on Stripe's page, the SetupIntent attaches it to
        `customer_ref`. `success_url` must hold {CHECKOUT_SESSION_ID}; Stripe fills it in."""
        metadata = {"payment_link": reference, "billing_contract": contract_number}
        try:
            session = self.client.v1.checkout.sessions.create(params={  # type: ignore[arg-type]
                "mode": "setup", "customer": customer_ref, "currency": currency.lower(),
                "payment_method_types": ["card"], "success_url": success_url, "cancel_url": cancel_url,
                "client_reference_id": contract_number, "locale": locale,
                "metadata": metadata, "setup_intent_data": {"metadata": metadata}},
                options={"idempotency_key": idempotency_key})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return HostedForm(str(session.url))

    def finish_card_entry(self, session_ref: str, *, contract_number: str = "") -> SavedCard:
        """Read the session back (never trust the redirect or the webhook body alone): complete, with a
        succeeded SetupIntent whose payment method is now the customer's."""
        if not session_ref.startswith("cs_"):
            raise ValidationError("not a Checkout Session id")
        try:
            session = self.client.v1.checkout.sessions.retrieve(
                session_ref, params={"expand": ["setup_intent.payment_method"]})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        setup = session.setup_intent
        if session.status != "complete" or setup is None or isinstance(setup, str) or setup.status != "succeeded":
            raise CardEntryIncomplete(str(session.status))
        method = setup.payment_method
        if method is None or isinstance(method, str):
            raise IntegrationError("the completed setup has no payment method")
        card = method.card
        metadata = session.metadata.to_dict() if session.metadata is not None else {}
        if contract_number and metadata.get("billing_contract") != contract_number:
            raise AuthError("this card entry belongs to another contract")
        return SavedCard(StoredMethod(self.name, str(session.customer or setup.customer or ""), str(method.id)),
                         reference=str(metadata.get("payment_link", "")),
                         contract_number=str(metadata.get("billing_contract", "")),
                         brand=str(card.brand) if card else "", last4=str(card.last4) if card else "")

    def charge(self, method: StoredMethod, amount: Decimal, currency: str, idempotency_key: str, *,
               description: str = "", reference: str = "", return_url: str = "") -> ChargeResult:
        params: dict[str, Any] = {
            "amount": to_minor(amount, currency), "currency": currency.lower(), "customer": method.customer_ref,
            "payment_method": method.method_ref, "confirm": True, "off_session": True,
            "description": description or None, "metadata": {METADATA_PAYMENT_KEY: idempotency_key,
                                                            METADATA_REFERENCE: reference}}
        try:
            intent = self.client.v1.payment_intents.create(
                params={k: v for k, v in params.items() if v is not None},  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            body = exc.json_body if isinstance(exc.json_body, dict) else {}
            intent_id = ((body.get("error") or {}).get("payment_intent") or {}).get("id", "")
            if exc.code == "authentication_required" and intent_id:
                return self._ask_for_authentication(intent_id, method, amount, currency, idempotency_key,
                                                    return_url=return_url)
            return ChargeResult(FAILED, amount, currency, intent_id, error=exc.user_message or "card declined",
                                details={"decline_code": str(getattr(exc.error, "decline_code", "") or ""),
                                         "reason": str(exc.code or "card_declined")})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        replayed = (intent.last_response is not None
                    and intent.last_response.headers.get("Idempotent-Replayed") == "true")
        return replace(self._result(intent, amount, currency), replayed=replayed)

    def _result(self, intent: Any, amount: Decimal, currency: str) -> ChargeResult:
        status = {"succeeded": SUCCEEDED, "processing": PENDING, "requires_action": REQUIRES_ACTION,
                  "requires_confirmation": PENDING}.get(intent.status, FAILED)
        received = _from_minor(intent.amount_received or 0, currency) if status == SUCCEEDED else amount
        if status == REQUIRES_ACTION:
            return ChargeResult(status, amount, currency, intent.id, error=AUTHENTICATION_NEEDED,
                                action_url=_action_url(intent), details={"reason": "authentication_required"})
        error = ""
        if status == FAILED:
            last = intent.last_payment_error
            error = (last.message if last is not None and last.message else f"payment intent is {intent.status}")
        return ChargeResult(status, received, currency, intent.id, error=error)

    def _ask_for_authentication(self, intent_id: str, method: StoredMethod, amount: Decimal, currency: str,
                                idempotency_key: str, *, return_url: str = "") -> ChargeResult:
        """Off-session, the bank asked for 3-D Secure (authentication_required). Confirm the same
        intent on-session with a return URL: Stripe answers requires_action and a redirect URL,
        which is the customer's link to finish paying (https://docs.stripe.com/payments/save-and-reuse,
        "Charge the saved payment method later": bring the customer back on-session)."""
        try:
            intent = self.client.v1.payment_intents.confirm(
                intent_id, params={"payment_method": method.method_ref,
                                   "return_url": return_url or self.return_url or "https://example.invalid/"},
                options={"idempotency_key": f"{idempotency_key}-authenticate"})
        except stripe.CardError as exc:
            return ChargeResult(FAILED, amount, currency, intent_id, error=exc.user_message or "card declined",
                                details={"reason": str(exc.code or "card_declined")})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return self._result(intent, amount, currency)

    def cancel_payment(self, processor_payment_id: str) -> None:
        """Cancel a PaymentIntent still waiting for the customer (https://docs.stripe.com/api/payment_intents/cancel)."""
        try:
            self.client.v1.payment_intents.cancel(processor_payment_id, params={"cancellation_reason": "duplicate"},
                                                  options={"idempotency_key": f"cancel-{processor_payment_id}"})
        except stripe.StripeError as exc:
            raise _translate(exc) from None

    def transaction_status(self, processor_payment_id: str, amount: Decimal, currency: str) -> ChargeResult:
        """The intent's outcome now, e.g. after the customer finished (or failed) 3-D Secure."""
        try:
            intent = self.client.v1.payment_intents.retrieve(processor_payment_id)
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        return self._result(intent, amount, currency)


AUTHENTICATION_NEEDED = "The card's bank asks the customer to confirm this payment (3-D Secure)."


def _action_url(intent: Any) -> str:
    action = intent.next_action
    if action is None:
        return ""
    if action.type == "redirect_to_url" and action.redirect_to_url is not None:
        return str(action.redirect_to_url.url or "")
    sdk = getattr(action, "use_stripe_sdk", None)
    return str(sdk.get("stripe_js", "")) if isinstance(sdk, dict) else ""
