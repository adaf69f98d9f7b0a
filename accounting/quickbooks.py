"""QuickBooks Online Accounting API v3 target.

https://developer.intuit.com/app/developer/qbo/docs/api/accounting/all-entities/invoice :
POST /v3/company/{realmId}/{entity}?minorversion=N creates (or, with Id + SyncToken and
"sparse": true, updates); reads go through /query with the QBO SQL subset. Faults come back as
{"Fault": {"Error": [{"Message","Detail","code"}], "type"}}; 5010 is a stale SyncToken, 6240 a
duplicate name. Every create is idempotent twice over: we look the document up by our number
(DocNumber / Name / PaymentRefNum) first, and send `requestid` so a re-sent create after a lost
response is answered from Intuit's replay cache instead of booking again.

Auth is OAuth 2.0 with a rotating refresh token (accounting/quickbooks_auth.py); every request
of the process to a realm goes through that realm's limiter (10 concurrent, 500 a minute). A
throttled request answers 429 with Fault code 003001 "ThrottleExceeded" and is retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import requests

from accounting.base import (
    DEFERRED_REVENUE_ACCOUNT,
    REVENUE_ACCOUNT,
    Customer,
    Invoice,
    Item,
    JournalEntry,
    Payment,
    money_json,
)
from accounting.quickbooks_auth import RealmLimiter, limiter_for, tokens_for
from shared.config import Settings, get_settings
from shared.errors import (
    AuthError,
    ConflictError,
    IntegrationError,
    NotFoundError,
    ValidationError,
    error_for_status,
)
from shared.http import HttpClient, RetryPolicy, parse_retry_after
from shared.logging import redact

MINOR_VERSION = "75"
DOC_NUMBER_MAX = 21


def qbo_error_decoder(response: requests.Response) -> IntegrationError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    fault = (body or {}).get("Fault") or (body or {}).get("fault") or {}
    errors = fault.get("Error") or fault.get("error") or [{}]
    first = errors[0]
    code = str(first.get("code", ""))
    message = redact(f"QuickBooks: {first.get('Message', response.reason)} ({first.get('Detail', '')})")
    kind: type[IntegrationError] = error_for_status(response.status_code)
    if response.status_code == 429 or code == "003001" or "ThrottleExceeded" in str(first.get("Message", "")):
        from shared.errors import ThrottledError

        kind = ThrottledError
    elif code in ("5010", "6240"):
        kind = ConflictError
    elif code == "610":
        kind = NotFoundError
    elif fault.get("type") == "AuthenticationFault":
        kind = AuthError
    return kind(message, status=response.status_code, code=code or None,
                retry_after=parse_retry_after(response.headers.get("Retry-After")))


def _q(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def _request_id(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:36]


class _RealmClient(HttpClient):
    """HttpClient held to the realm's limiter, and refreshing the access token once on a 401."""

    def __init__(self, *args: Any, limiter: RealmLimiter, tokens: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, token_provider=tokens, **kwargs)
        self.limiter = limiter
        self.tokens = tokens

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        with self.limiter.slot():
            try:
                return super().request(method, path, **kwargs)
            except AuthError as exc:
                invalidate = getattr(self.tokens, "invalidate", None)
                if exc.status != 401 or invalidate is None:
                    raise
                invalidate()  # revoked or expired early: one fresh token, one more try
                return super().request(method, path, **kwargs)


def _id(row: dict[str, Any]) -> str:
    """The Id of an entity QuickBooks answered with (a string on the wire)."""
    return str(row["Id"])


class QuickBooksTarget:
    name = "quickbooks"

    def __init__(self, base_url: str, realm_id: str, token: str | Callable[[], str], *,
                 retry: RetryPolicy | None = None, timeout: float = 60.0, limiter: RealmLimiter | None = None) -> None:
        if not realm_id or not token:
            raise AuthError("QuickBooks realm id and an access token (or a token provider) are required")
        tokens: Callable[[], str] = token if callable(token) else (lambda: token)
        self.tokens = tokens
        self.http = _RealmClient(f"{base_url.rstrip('/')}/v3/company/{realm_id}", limiter=limiter or RealmLimiter(),
                                 tokens=tokens, error_decoder=qbo_error_decoder, retry=retry or RetryPolicy(),
                                 timeout=timeout, default_headers={"Accept": "application/json"})
        self._accounts: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> QuickBooksTarget:
        """OAuth 2.0 from settings alone: the client id/secret and the refresh token in the secret store."""
        s = settings or get_settings()
        realm = s.quickbooks_realm_id or ("sandbox-realm" if s.mode == "sandbox" else "")
        if not realm:
            raise AuthError("CSPB_QUICKBOOKS_REALM_ID is required")
        return cls(s.quickbooks_url, realm, tokens_for(s, realm), timeout=s.http_timeout_seconds,
                   limiter=limiter_for(s, realm),
                   retry=RetryPolicy(max_attempts=s.http_max_attempts, cap_seconds=s.http_backoff_cap_seconds))

    # -- plumbing --------------------------------------------------------------------------------
    def query_one(self, entity: str, field: str, value: str) -> dict[str, Any] | None:
        body = self.http.get_json("query", params={"query": f"select * from {entity} where {field} = '{_q(value)}'",
                                                   "minorversion": MINOR_VERSION})
        rows = (body.get("QueryResponse") or {}).get(entity) or []
        return rows[0] if rows else None

    def _post(self, entity: str, payload: dict[str, Any], request_id: str | None = None) -> dict[str, Any]:
        params = {"minorversion": MINOR_VERSION}
        if request_id:
            params["requestid"] = request_id
        # QuickBooks replays the first answer for a repeated requestid, so only then is a resend safe.
        response = self.http.request("POST", entity.lower(), params=params, data=json.dumps(payload),
                                     headers={"Content-Type": "application/json"}, idempotent=bool(request_id))
        created: dict[str, Any] = response.json()[entity]
        return created

    def _create_once(self, entity: str, field: str, value: str, payload: dict[str, Any]) -> dict[str, Any]:
        existing = self.query_one(entity, field, value)
        if existing is not None:
            return existing
        return self._post(entity, payload, _request_id(entity, value))

    def account_id(self, number: str) -> str:
        if number not in self._accounts:
            account = self.query_one("Account", "AcctNum", number)
            if account is None:
                raise ValidationError(f"QuickBooks has no account number {number}; map the chart of accounts")
            self._accounts[number] = account["Id"]
        return self._accounts[number]

    # -- port ------------------------------------------------------------------------------------
    def upsert_customer(self, customer: Customer) -> str:
        payload = {"DisplayName": customer.name[:500], "CurrencyRef": {"value": customer.currency},
                   "PrimaryEmailAddr": {"Address": customer.email} if customer.email else None,
                   "Notes": f"cspb:{customer.key}"}
        payload = {k: v for k, v in payload.items() if v is not None}
        for _ in range(3):
            existing = self.query_one("Customer", "DisplayName", customer.name)
            if existing is None:
                return _id(self._post("Customer", payload, _request_id("Customer", customer.key)))
            if (existing.get("PrimaryEmailAddr") or {}).get("Address", "") == customer.email:
                return _id(existing)
            try:
                return _id(self._post("Customer", {**payload, "Id": existing["Id"],
                                                   "SyncToken": existing["SyncToken"], "sparse": True}))
            except ConflictError as exc:
                if exc.code != "5010":
                    raise
                # Someone edited it between our read and write: read the new SyncToken and try again.
        raise ConflictError("QuickBooks customer kept changing under us", code="5010")

    def upsert_item(self, item: Item) -> str:
        name = item.sku[:100]
        return _id(self._create_once("Item", "Name", name, {
            "Name": name, "Sku": item.sku[:100], "Description": item.name[:4000], "Type": "Service",
            "UnitPrice": money_json(item.unit_price), "IncomeAccountRef": {"value": self.account_id(REVENUE_ACCOUNT)},
        }))

    def push_invoice(self, invoice: Invoice) -> str:
        if len(invoice.number) > DOC_NUMBER_MAX:
            raise ValidationError(f"invoice number {invoice.number!r} is longer than QuickBooks' 21 characters")
        customer_id = self.upsert_customer(invoice.customer)
        lines = []
        for line in invoice.lines:
            item_id = self.upsert_item(Item(line.sku, line.description, line.unit_price))
            lines.append({"DetailType": "SalesItemLineDetail", "Amount": money_json(line.amount),
                          "Description": line.description,
                          "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": float(line.quantity),
                                                  "UnitPrice": float(line.unit_price)}})
        payload: dict[str, Any] = {"DocNumber": invoice.number, "CustomerRef": {"value": customer_id},
                                   "TxnDate": invoice.invoice_date.isoformat(),
                                   "CurrencyRef": {"value": invoice.currency}, "Line": lines}
        if invoice.due_date:
            payload["DueDate"] = invoice.due_date.isoformat()
        return _id(self._create_once("Invoice", "DocNumber", invoice.number, payload))

    def push_payment(self, payment: Payment, invoice_ref: str) -> str:
        ref = payment.key[:DOC_NUMBER_MAX]
        customer_id = self.upsert_customer(payment.customer)
        return _id(self._create_once("Payment", "PaymentRefNum", ref, {
            "TotalAmt": money_json(payment.amount), "CustomerRef": {"value": customer_id},
            "TxnDate": payment.paid_on.isoformat(), "PaymentRefNum": ref, "CurrencyRef": {"value": payment.currency},
            "Line": [{"Amount": money_json(payment.amount),
                      "LinkedTxn": [{"TxnId": invoice_ref, "TxnType": "Invoice"}]}]}))

    def push_journal(self, entry: JournalEntry) -> str:
        if not entry.balanced():
            raise ValidationError(f"journal {entry.key} does not balance")
        lines = []
        for line in entry.lines:
            for posting, amount in (("Debit", line.debit), ("Credit", line.credit)):
                if amount:
                    lines.append({"DetailType": "JournalEntryLineDetail", "Amount": money_json(amount),
                                  "Description": line.description,
                                  "JournalEntryLineDetail": {"PostingType": posting,
                                                             "AccountRef": {"value": self.account_id(line.account)}}})
        return _id(self._create_once("JournalEntry", "DocNumber", entry.key[:DOC_NUMBER_MAX], {
            "DocNumber": entry.key[:DOC_NUMBER_MAX], "TxnDate": entry.posting_date.isoformat(),
            "CurrencyRef": {"value": entry.currency}, "Line": lines}))


__all__ = ["QuickBooksTarget", "qbo_error_decoder", "DEFERRED_REVENUE_ACCOUNT"]
