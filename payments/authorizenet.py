"""Authorize.Net through its JSON API (https://developer.authorize.net/api/reference/).

One endpoint takes every call; the body's single top-level key names it, and the answer is
HTTP 200 with a UTF-8 BOM and messages.resultCode "Ok" | "Error" (errors are in the body, not
the status). Cards never reach us: Accept.js gives the browser an opaqueData token, which we
turn into a customer profile + payment profile and store only those ids.

Authorize.Net has no idempotency header. Its duplicate window plays that role: a charge
re-sent with the same amount, profile and order.invoiceNumber inside `duplicateWindow`
seconds is refused with transaction error 11, and because we send duplicateWindow the refusal
carries the original transId. We put (a 20-char cut of) our idempotency key in invoiceNumber
and refId, and on error 11 read the original's current status (getTransactionDetails) and
return it as a replay instead of charging again.

The JSON is mapped onto the XSD, so every object's keys go in the schema's sequence (the real
service answers E00003 otherwise). Response code 4 is "held for review": the money may still
move, so the charge is pending, never failed (a failed charge would be retried and could take
the money twice); its outcome is read later with transaction_status. The merchant account has
one currency (CSPB_AUTHORIZENET_CURRENCY); a charge in another one is refused before any call.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

from billing.money import round_money
from payments.base import (
    FAILED,
    PENDING,
    SESSION_PLACEHOLDER,
    SUCCEEDED,
    CardEntryIncomplete,
    ChargeResult,
    HostedForm,
    SavedCard,
    StoredMethod,
)
from shared.config import Settings, get_settings
from shared.errors import AuthError, ConflictError, FatalError, NotFoundError, RetriableError, ValidationError
from shared.http import HttpClient, RetryPolicy

# The largest window Authorize.Net accepts (8 hours).
DUPLICATE_WINDOW_SECONDS = 28800
_AUTH_CODES = {"E00007", "E00008", "E00124"}
# getTransactionDetails transactionStatus -> our charge status (anything else: still pending).
_SETTLED = {"capturedPendingSettlement", "settledSuccessfully", "authorizedPendingCapture"}
_REFUSED = {"declined", "voided", "expired", "failedReview", "settlementError", "generalError",
            "communicationError", "couldNotVoid", "returnedItem"}


def hosted_origin(api_url: str) -> str:
    """Where the hosted forms live for an API endpoint: test.authorize.net for apitest.authorize.net,
    accept.authorize.net for api(2).authorize.net, and the same origin for a local sandbox."""
    from urllib.parse import urlsplit

    parts = urlsplit(api_url)
    if parts.hostname == "apitest.authorize.net":
        return "https://test.authorize.net"
    if parts.hostname in ("api.authorize.net", "api2.authorize.net"):
        return "https://accept.authorize.net"
    return f"{parts.scheme}://{parts.netloc}"


def short_key(key: str) -> str:
    """refId and invoiceNumber hold at most 20 characters."""
    return re.sub(r"[^A-Za-z0-9-]", "", key)[:20]


class AuthorizeNetProcessor:
    name = "authorizenet"
    # No charge waits for the customer here (no 3-D Secure step), so there is nothing to withdraw.
    cancels_payments = False

    def __init__(self, url: str, login_id: str, transaction_key: str, *, retry: RetryPolicy | None = None,
                 timeout: float = 60.0, currency: str = "USD") -> None:
        if not login_id or not transaction_key:
            raise AuthError("Authorize.Net API login id and transaction key are required")
        self._auth = {"name": login_id, "transactionKey": transaction_key}
        self.currency = (currency or "USD").upper()
        self.url = url
        self.http = HttpClient(url, retry=retry or RetryPolicy(), timeout=timeout)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AuthorizeNetProcessor:
        s = settings or get_settings()
        sandbox = s.mode == "sandbox"
        return cls(s.authorizenet_url, s.authorizenet_login_id or ("sandbox" if sandbox else ""),
                   s.authorizenet_transaction_key.reveal() or ("sandbox-key" if sandbox else ""),
                   timeout=s.http_timeout_seconds, currency=s.authorizenet_currency,
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
        answer: dict[str, Any]
        try:
            answer = json.loads(response.content.decode("utf-8-sig"))
        except ValueError:
            raise RetriableError("Authorize.Net returned an unreadable answer") from None
        if not isinstance(answer, dict):
            raise RetriableError("Authorize.Net returned an unreadable answer (not a JSON object)")
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
            # A retried save: the profile exists; add the method to it.
            profile_id = _existing_profile_id(exc)
            added = self.call("createCustomerPaymentProfileRequest", {
                "customerProfileId": profile_id,
                "paymentProfile": {"customerType": "business", "payment": payment}, "validationMode": "none"})
            self._raise_for(added)
            return StoredMethod(self.name, profile_id, added["customerPaymentProfileId"])
        ids = answer.get("customerPaymentProfileIdList") or []
        if not ids:
            raise FatalError("Authorize.Net created the profile without a payment profile")
        return StoredMethod(self.name, answer["customerProfileId"], ids[0])

    # -- hosted card entry (Accept Customer) -----------------------------------------------------
    def create_customer(self, customer_name: str, email: str, idempotency_key: str, *, reference: str = "") -> str:
        """A customer profile without cards, its merchantCustomerId our contract number (the hosted
        form adds the card). A profile that already exists for it (E00039) is reused."""
        merchant_id = short_key(reference or idempotency_key)
        answer = self.call("createCustomerProfileRequest", {
            "profile": {"merchantCustomerId": merchant_id, "description": customer_name[:255], "email": email},
            "validationMode": "none"}, ref_id=short_key(idempotency_key))
        try:
            self._raise_for(answer)
        except ConflictError as exc:
            return _existing_profile_id(exc)
        return str(answer["customerProfileId"])

    def start_card_entry(self, *, customer_ref: str, currency: str, success_url: str, cancel_url: str,
                         reference: str, contract_number: str, idempotency_key: str, locale: str = "") -> HostedForm:
        """getHostedProfilePageRequest: a page token the browser POSTs to <hosted origin>/customer/addPayment.
        The card is checked with a live authorization (hostedProfileValidationMode=liveMode), so a card the
        bank refuses is refused on the form, not at the first invoice. The return URL carries our reference
        in place of SESSION_PLACEHOLDER; Authorize.Net has no session id of its own."""
        back = success_url.replace(SESSION_PLACEHOLDER, f"{customer_ref}.{reference}")
        answer = self.call("getHostedProfilePageRequest", {
            "customerProfileId": customer_ref,
            "hostedProfileSettings": {"setting": [
                {"settingName": "hostedProfileReturnUrl", "settingValue": back},
                {"settingName": "hostedProfileReturnUrlText", "settingValue": "Continue"},
                {"settingName": "hostedProfilePageBorderVisible", "settingValue": "false"},
                {"settingName": "hostedProfileValidationMode", "settingValue": "liveMode"},
                {"settingName": "hostedProfileBillingAddressRequired", "settingValue": "false"},
                {"settingName": "hostedProfileCardCodeRequired", "settingValue": "true"}]}},
            ref_id=short_key(idempotency_key))
        self._raise_for(answer)
        return HostedForm(f"{hosted_origin(self.url)}/customer/addPayment", "POST", {"token": str(answer["token"])})

    def finish_card_entry(self, session_ref: str, *, contract_number: str = "") -> SavedCard:
        """The card the customer saved: the newest payment profile of the customer profile named in the
        return URL, which must be the one we created for `contract_number` (merchantCustomerId)."""
        customer, _, reference = session_ref.partition(".")
        if not customer.isdigit():
            raise ValidationError("not an Authorize.Net card entry reference")
        answer = self.call("getCustomerProfileRequest", {"customerProfileId": customer})
        self._raise_for(answer)
        profile = answer.get("profile") or {}
        owner = str(profile.get("merchantCustomerId") or "")
        if contract_number and owner != short_key(contract_number):
            raise AuthError("this card entry belongs to another contract")
        cards = sorted(profile.get("paymentProfiles") or [], key=lambda p: int(p.get("customerPaymentProfileId", 0)))
        if not cards:
            raise CardEntryIncomplete("open")
        newest = cards[-1]
        card = (newest.get("payment") or {}).get("creditCard") or {}
        return SavedCard(StoredMethod(self.name, customer, str(newest["customerPaymentProfileId"])),
                         reference=reference, contract_number=owner, brand=str(card.get("cardType", "")),
                         last4=str(card.get("cardNumber", ""))[-4:])

    def start_hosted_payment(self, *, customer_ref: str, amount: Decimal, currency: str, invoice_number: str,
                             return_url: str, cancel_url: str, idempotency_key: str) -> HostedForm:
        """getHostedPaymentPageRequest (Accept Hosted): the customer pays `amount` on the hosted form, and
        the card is saved to the customer profile (hostedPaymentCustomerOptions.addPaymentProfile). The
        outcome is confirmed server-side from the webhook + getTransactionDetails, never from the return."""
        if (currency or "").upper() != self.currency:
            raise ValidationError(f"Authorize.Net: this merchant account charges in {self.currency} only")
        settings = {
            "hostedPaymentReturnOptions": {"showReceipt": False, "url": return_url, "urlText": "Continue",
                                           "cancelUrl": cancel_url, "cancelUrlText": "Cancel"},
            "hostedPaymentButtonOptions": {"text": "Pay"},
            "hostedPaymentPaymentOptions": {"cardCodeRequired": True, "showCreditCard": True,
                                            "showBankAccount": False},
            "hostedPaymentCustomerOptions": {"showEmail": False, "requiredEmail": False, "addPaymentProfile": True},
            "hostedPaymentOrderOptions": {"show": True}}
        # Keys in the XSD sequence (transactionRequestType): type, amount, profile, order.
        tx = {"transactionType": "authCaptureTransaction", "amount": str(round_money(amount, currency)),
              "profile": {"customerProfileId": customer_ref}, "order": {"invoiceNumber": short_key(invoice_number)}}
        answer = self.call("getHostedPaymentPageRequest", {
            "transactionRequest": tx,
            "hostedPaymentSettings": {"setting": [{"settingName": k, "settingValue": json.dumps(v)}
                                                  for k, v in settings.items()]}},
            ref_id=short_key(idempotency_key))
        self._raise_for(answer)
        return HostedForm(f"{hosted_origin(self.url)}/payment/payment", "POST", {"token": str(answer["token"])})

    def find_transaction(self, invoice_number: str) -> str:
        """The transId of the (not declined) transaction carrying our invoiceNumber, "" when there is none
        yet: how a payment taken on the hosted page is matched to the attempt that opened it."""
        found = self._find(invoice_number)
        return str(found["transId"]) if found is not None else ""

    def _find(self, invoice_number: str) -> dict[str, Any] | None:
        answer = self.call("getUnsettledTransactionListRequest", {})
        self._raise_for(answer)
        for t in answer.get("transactions") or []:
            if t.get("invoiceNumber") == invoice_number and t.get("transactionStatus") != "declined":
                found: dict[str, Any] = t
                return found
        return None

    def cancel_payment(self, processor_payment_id: str) -> None:
        raise FatalError(f"Authorize.Net has no waiting payment to cancel ({processor_payment_id})")

    def transaction_status(self, trans_id: str, amount: Decimal, currency: str) -> ChargeResult:
        """The current outcome of an earlier charge (getTransactionDetailsRequest): a held one is
        settled here, by reading, never by charging again."""
        answer = self.call("getTransactionDetailsRequest", {"transId": trans_id})
        self._raise_for(answer)
        transaction = answer.get("transaction") or {}
        status = transaction.get("transactionStatus") or ""
        if status in _SETTLED:
            return ChargeResult(SUCCEEDED, amount, currency, trans_id, replayed=True)
        if status in _REFUSED:
            return ChargeResult(FAILED, amount, currency, trans_id, error=f"the payment was {status}", replayed=True,
                                details={"transaction_status": status})
        return ChargeResult(PENDING, amount, currency, trans_id, replayed=True,
                            error="the payment is held for review by the processor",
                            details={"transaction_status": status})

    def charge(self, method: StoredMethod, amount: Decimal, currency: str, idempotency_key: str, *,
               description: str = "", reference: str = "", return_url: str = "") -> ChargeResult:
        # return_url is unused: a charge on a saved profile has no customer-facing step here.
        if (currency or "").upper() != self.currency:
            raise ValidationError(f"Authorize.Net: this merchant account charges in {self.currency} only; the invoice "
                                  f"is in {currency}. Charge it with another processor or bill it in {self.currency}.")
        key = short_key(idempotency_key)
        # Keys in transactionRequestType's XSD sequence: type, amount, currencyCode, profile, order, settings.
        tx = {"transactionType": "authCaptureTransaction", "amount": str(round_money(amount, currency)),
              "currencyCode": self.currency,
              "profile": {"customerProfileId": method.customer_ref,
                          "paymentProfile": {"paymentProfileId": method.method_ref}},
              "order": {"invoiceNumber": key, "description": (description or reference)[:255]},
              "transactionSettings": {"setting": [{"settingName": "duplicateWindow",
                                                   "settingValue": str(DUPLICATE_WINDOW_SECONDS)}]}}
        answer = self.call("createTransactionRequest", {"transactionRequest": tx}, ref_id=key)
        result = answer.get("transactionResponse") or {}
        errors = result.get("errors") or []
        if any(e.get("errorCode") == "11" for e in errors):
            # With duplicateWindow sent, the refusal names the original transaction.
            original = result.get("transId") or ""
            if not original or original == "0":
                found = self._find(key)
                if found is None:
                    raise RetriableError("Authorize.Net reported a duplicate but the original was not found yet")
                original = found["transId"]
            return self.transaction_status(original, amount, currency)
        code = result.get("responseCode")
        if code == "1":
            return ChargeResult(SUCCEEDED, amount, currency, result.get("transId", ""))
        if code == "4":
            return ChargeResult(PENDING, amount, currency, result.get("transId", ""),
                                error="the payment is held for review by the processor",
                                details={"response_code": "4"})
        if code in ("2", "3"):
            text = errors[0].get("errorText", "declined") if errors else "declined"
            return ChargeResult(FAILED, amount, currency, result.get("transId", ""), error=text,
                                details={"error_code": errors[0].get("errorCode", "") if errors else ""})
        self._raise_for(answer)
        raise RetriableError("Authorize.Net returned no transaction response")


def _existing_profile_id(conflict: ConflictError) -> str:
    """The id of the customer profile a duplicate create (E00039) names in its message; a conflict
    that names none is not that case and is raised as it was."""
    match = re.search(r"ID (\d+)", conflict.message)
    if not match:
        raise conflict
    return match.group(1)
