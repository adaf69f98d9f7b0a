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
from decimal import Decimal
from typing import Any

import stripe

from billing.money import minor_units, round_money
from payments.base import FAILED, PENDING, SUCCEEDED, ChargeResult, StoredMethod
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

    def __init__(self, api_key: str, *, api_base: str = "https://api.stripe.com", retry: RetryPolicy | None = None,
                 timeout: float = 60.0) -> None:
        if not api_key:
            raise AuthError("Stripe API key is not configured")
        self.http = HttpClient(api_base, retry=retry or RetryPolicy(), timeout=timeout)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base.rstrip("/")},
                                          max_network_retries=0, http_client=_SharedHttp(self.http))

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> StripeProcessor:
        s = settings or get_settings()
        key = s.stripe_api_key.reveal() or ("sk_test_sandbox" if s.mode == "sandbox" else "")
        return cls(key, api_base=s.stripe_api_base, timeout=s.http_timeout_seconds,
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

    def charge(self, method: StoredMethod, amount: Decimal, currency: str, idempotency_key: str, *,
               description: str = "", reference: str = "") -> ChargeResult:
        params: dict[str, Any] = {
            "amount": to_minor(amount, currency), "currency": currency.lower(), "customer": method.customer_ref,
            "payment_method": method.method_ref, "confirm": True, "off_session": True,
            "description": description or None, "metadata": {"cspb_paymentkey": idempotency_key,
                                                            "cspb_reference": reference}}
        try:
            intent = self.client.v1.payment_intents.create(
                params={k: v for k, v in params.items() if v is not None},  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            body = exc.json_body if isinstance(exc.json_body, dict) else {}
            intent_id = ((body.get("error") or {}).get("payment_intent") or {}).get("id", "")
            return ChargeResult(FAILED, amount, currency, intent_id, error=exc.user_message or "card declined",
                                details={"decline_code": str(getattr(exc.error, "decline_code", "") or "")})
        except stripe.StripeError as exc:
            raise _translate(exc) from None
        replayed = (intent.last_response is not None
                    and intent.last_response.headers.get("Idempotent-Replayed") == "true")
        status = {"succeeded": SUCCEEDED, "processing": PENDING}.get(intent.status, FAILED)
        received = _from_minor(intent.amount_received or 0, currency) if status == SUCCEEDED else amount
        return ChargeResult(status, received, currency, intent.id, replayed=replayed,
                            error="" if status != FAILED else f"payment intent is {intent.status}")
