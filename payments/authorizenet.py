"""Authorize.Net through its JSON API (https://developer.authorize.net/api/reference/).

One endpoint takes every call; the body's single top-level key names it, and the answer is
HTTP 200 with a UTF-8 BOM and messages.resultCode "Ok" | "Error" (errors are in the body, not
the status). Cards never reach us: Accept.js gives the browser an opaqueData token, which we
turn into a customer profile + payment profile and store only those ids.

Authorize.Net has no idempotency header. Its duplicate window plays that role: a charge
re-sent with the same amount, profile and order.invoiceNumber inside `duplicateWindow`
seconds is refused with transaction error 11. We put (a 20-char cut of) our idempotency key in
invoiceNumber and refId, and on error 11 look the original transaction up by invoiceNumber
and return it as a replay instead of charging again.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from billing.money import round_money
from payments.base import FAILED, SUCCEEDED, ChargeResult, StoredMethod
from shared.config import Settings, get_settings
from shared.errors import AuthError, ConflictError, FatalError, NotFoundError, RetriableError, ValidationError
from shared.http import HttpClient, RetryPolicy

# The largest window Authorize.Net accepts (8 hours).
DUPLICATE_WINDOW_SECONDS = 28800
_AUTH_CODES = {"E00007", "E00008", "E00124"}


def short_key(key: str) -> str:
    """refId and invoiceNumber hold at most 20 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "", key)[:20]


class AuthorizeNetProcessor:
    name = "authorizenet"

    def __init__(self, url: str, login_id: str, transaction_key: str, *, retry: RetryPolicy | None = None,
                 timeout: float = 60.0) -> None:
        if not login_id or not transaction_key:
            raise AuthError("Authorize.Net API login id and transaction key are required")
        self._auth = {"name": login_id, "transactionKey": transaction_key}
        self.url = url
        self.http = HttpClient(url, retry=retry or RetryPolicy(), timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AuthorizeNetProcessor:
        s = settings or get_settings()
        sandbox = s.mode == "sandbox"
        return cls(s.authorizenet_url, s.authorizenet_login_id or ("sandbox" if sandbox else ""),
                   s.authorizenet_transaction_key.reveal() or ("sandbox-key" if sandbox else ""),
                   timeout=s.http_timeout_seconds,
                   retry=RetryPolicy(max_attempts=s.http_max_attempts, cap_seconds=s.http_backoff_cap_seconds))

    def call(self, name: str, body: dict[str, Any], ref_id: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"merchantAuthentication": self._auth}
        if ref_id:
            payload["refId"] = ref_id
        payload.update(body)
        # Safe to send again: every call is a read, a profile write keyed by our ids, or a charge inside
        # the duplicate window (module docstring), which refuses the repeat instead of charging twice.
        response = self.http.request("POST", self.url, data=json.dumps({name: payload}),
                                     headers={"Content-Type": "application/json"}, ok=(200,), idempotent=True)
        try:
            answer = json.loads(response.content.decode("utf-8-sig"))
        except ValueError:
            raise RetriableError("Authorize.Net returned an unreadable answer") from None
        return answer

    @staticmethod
    def _raise_for(answer: dict[str, Any]) -> None:
        messages = answer.get("messages") or {}
        if messages.get("resultCode") == "Ok":
            return
        first = (messages.get("message") or [{}])[0]
        code, text = first.get("code", ""), first.get("text", "Authorize.Net error")
        if code in _AUTH_CODES:
            raise AuthError(f"Authorize.Net: {text}", code=code)
        if code == "E00040":
            raise NotFoundError(f"Authorize.Net: {text}", code=code)
        if code == "E00039":
            raise ConflictError(f"Authorize.Net: {text}", code=code)
        if code in ("E00001", "E00053"):  # "An error occurred during processing" / "server too busy"
            raise RetriableError(f"Authorize.Net: {text}", code=code)
        raise ValidationError(f"Authorize.Net: {text}", code=code)

    def save_method(self, customer_name: str, email: str, method_token: str, idempotency_key: str) -> StoredMethod:
        payment = {"opaqueData": {"dataDescriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "dataValue": method_token}}
        merchant_id = short_key(idempotency_key)
        answer = self.call("createCustomerProfileRequest", {
            "profile": {"merchantCustomerId": merchant_id, "description": customer_name[:255], "email": email,
                        "paymentProfiles": {"customerType": "business", "payment": payment}},
            "validationMode": "none"}, ref_id=merchant_id)
        try:
            self._raise_for(answer)
        except ConflictError as exc:
            # A retried save: the profile exists (its id is in the message); add the method to it.
            match = re.search(r"ID (\d+)", exc.message)
            if not match:
                raise
            added = self.call("createCustomerPaymentProfileRequest", {
                "customerProfileId": match.group(1),
                "paymentProfile": {"customerType": "business", "payment": payment}, "validationMode": "none"})
            self._raise_for(added)
            return StoredMethod(self.name, match.group(1), added["customerPaymentProfileId"])
        ids = answer.get("customerPaymentProfileIdList") or []
        if not ids:
            raise FatalError("Authorize.Net created the profile without a payment profile")
        return StoredMethod(self.name, answer["customerProfileId"], ids[0])

    def _find(self, invoice_number: str) -> dict[str, Any] | None:
        answer = self.call("getUnsettledTransactionListRequest", {})
        self._raise_for(answer)
        for t in answer.get("transactions") or []:
            if t.get("invoiceNumber") == invoice_number and t.get("transactionStatus") != "declined":
                return t
        return None

    def charge(self, method: StoredMethod, amount: Decimal, currency: str, idempotency_key: str, *,
               description: str = "", reference: str = "") -> ChargeResult:
        key = short_key(idempotency_key)
        tx = {"transactionType": "authCaptureTransaction", "amount": str(round_money(amount, currency)),
              "profile": {"customerProfileId": method.customer_ref,
                          "paymentProfile": {"paymentProfileId": method.method_ref}},
              "order": {"invoiceNumber": key, "description": (description or reference)[:255]},
              "transactionSettings": {"setting": [{"settingName": "duplicateWindow",
                                                   "settingValue": str(DUPLICATE_WINDOW_SECONDS)}]}}
        answer = self.call("createTransactionRequest", {"transactionRequest": tx}, ref_id=key)
        result = answer.get("transactionResponse") or {}
        errors = result.get("errors") or []
        if any(e.get("errorCode") == "11" for e in errors):
            original = self._find(key)
            if original is None:
                raise RetriableError("Authorize.Net reported a duplicate but the original was not found yet")
            return ChargeResult(SUCCEEDED, amount, currency, original["transId"], replayed=True)
        if result.get("responseCode") == "1":
            return ChargeResult(SUCCEEDED, amount, currency, result.get("transId", ""))
        if result.get("responseCode") in ("2", "3", "4"):
            text = errors[0].get("errorText", "declined") if errors else "declined"
            return ChargeResult(FAILED, amount, currency, result.get("transId", ""), error=text,
                                details={"error_code": errors[0].get("errorCode", "") if errors else ""})
        self._raise_for(answer)
        raise RetriableError("Authorize.Net returned no transaction response")
