"""Pax8 partner API adapter (https://devx.pax8.com/ , partner endpoints v1).

Auth is OAuth 2.0 client credentials: POST https://token-manager.pax8.com/oauth/token with a
JSON body {client_id, client_secret, audience: "https://api.pax8.com", grant_type:
"client_credentials"}; tokens live 24 h. Lists are page-numbered (page from 0, size <= 200)
and answer {"content": [...], "page": {"size","totalElements","totalPages","number"}}.
Errors answer {"type","message","instance","status","details"}.

Pax8 documents no idempotency contract for POST /v1/orders, so place_order does not trust a
retry: when a POST fails in a way that may have committed (timeout, 5xx), it first looks for
an order created since the first attempt with the same company/product/quantity/term and
returns that one. An `Idempotency-Key` header is also sent (ignored by Pax8, honoured by the
sandbox). Across function invocations, the caller's change log (cspb_providerorderid) is the
guard.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from billing.money import parse_decimal
from distributors.base import (
    ANNUAL,
    MONTHLY,
    ONE_TIME,
    TRIENNIAL,
    Company,
    Invoice,
    InvoiceLine,
    OrderResult,
    Price,
    Product,
    Subscription,
    check_term,
)
from shared.config import Settings, get_settings
from shared.errors import (
    AuthError,
    IntegrationError,
    RetriableError,
    ValidationError,
    error_for_status,
)
from shared.http import HttpClient, RetryPolicy, parse_retry_after
from shared.logging import get_logger, redact

log = get_logger(__name__)

PRODUCTION_TOKEN_URL = "https://token-manager.pax8.com/oauth/token"
AUDIENCE = "https://api.pax8.com"
PAGE_SIZE = 200
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_BILLING_TERMS = {"Monthly": MONTHLY, "Annual": ANNUAL, "3-Year": TRIENNIAL, "One-Time": ONE_TIME}
_TO_PAX8_BILLING = {v: k for k, v in _BILLING_TERMS.items()}
_COMMITMENT_TERMS = {"Monthly": MONTHLY, "1-Year": ANNUAL, "3-Year": TRIENNIAL}
_TO_PAX8_COMMITMENT = {v: k for k, v in _COMMITMENT_TERMS.items()}
_STATUSES = {
    "Active": "Active", "Activated": "Active", "Cancelled": "Cancelled", "Trial": "Trial", "Converted": "Expired",
    "PendingManual": "Pending", "PendingAutomated": "Pending", "PendingCancel": "Pending",
    "WaitingForDetails": "Pending", "PendingActivation": "Pending",
}


def pax8_error_decoder(response: requests.Response) -> IntegrationError:
    message = response.reason or f"HTTP {response.status_code}"
    details: dict[str, Any] = {}
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = body.get("message") or body.get("error_description") or body.get("error") or message
        if isinstance(body.get("error"), dict):
            message = body["error"].get("message", message)
        if body.get("details"):
            details = {"details": body["details"]}
            message = f"{message}: " + "; ".join(
                f"{d.get('field', '')} {d.get('message', '')}".strip() for d in body["details"] if isinstance(d, dict))
    kind = error_for_status(response.status_code)
    return kind(redact(f"Pax8: {message}"), status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")), details=details)


class _TokenCache:
    def __init__(self, token_url: str, client_id: str, client_secret: str, http: HttpClient) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.http = http
        self._token = ""
        self._expires = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            # Renew five minutes early so a long page walk never sends an expired token.
            if not self._token or time.time() > self._expires - 300:
                body = self.http.post_json(self.token_url, {
                    "client_id": self.client_id, "client_secret": self._secret,
                    "audience": AUDIENCE, "grant_type": "client_credentials"}, auth=False)
                if not body or not body.get("access_token"):
                    raise AuthError("Pax8 token endpoint returned no access_token")
                self._token = body["access_token"]
                self._expires = time.time() + float(body.get("expires_in", 3600))
            return self._token


def _date(value: str | None) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).date()


def _money(value: Any) -> Decimal | None:
    return None if value is None or value == "" else parse_decimal(value)


class Pax8Adapter:
    provider = "pax8"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = PRODUCTION_TOKEN_URL,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        currency: str = "USD",
    ) -> None:
        if not client_id or not client_secret:
            raise AuthError("Pax8 client id and secret are required")
        retry = retry or RetryPolicy()
        self.currency = currency
        token_http = HttpClient(token_url, error_decoder=pax8_error_decoder, retry=retry, timeout=timeout)
        self._token = _TokenCache(token_url, client_id, client_secret, token_http)
        api = base_url.rstrip("/") + "/v1"
        self.http = HttpClient(api, token_provider=self._token, error_decoder=pax8_error_decoder, retry=retry,
                               timeout=timeout, service="pax8", default_headers={"Accept": "application/json"})
        # Order creation is retried here, not in the HTTP layer, so a lost response is reconciled first.
        self._once = HttpClient(api, token_provider=self._token, error_decoder=pax8_error_decoder,
                                retry=RetryPolicy(max_attempts=1), timeout=timeout, service="pax8",
                                default_headers={"Accept": "application/json"})
        self._retry = retry
        self._sku_index: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Pax8Adapter:
        s = settings or get_settings()
        token_url = s.pax8_url.rstrip("/") + "/oauth/token" if s.mode == "sandbox" else PRODUCTION_TOKEN_URL
        return cls(s.pax8_url, s.pax8_client_id or ("sandbox" if s.mode == "sandbox" else ""),
                   s.pax8_client_secret.reveal() or ("sandbox-secret" if s.mode == "sandbox" else ""),
                   token_url=token_url, retry=RetryPolicy(max_attempts=s.http_max_attempts,
                                                          cap_seconds=s.http_backoff_cap_seconds),
                   timeout=s.http_timeout_seconds)

    # -- reading ---------------------------------------------------------------------------------
    def _pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        page = 0
        while True:
            body = self.http.get_json(path, params={**params, "page": page, "size": PAGE_SIZE})
            yield from body.get("content", [])
            meta = body.get("page") or {}
            if meta.get("number", page) + 1 >= meta.get("totalPages", 0):
                return
            page += 1

    def list_companies(self) -> Iterator[Company]:
        for c in self._pages("companies"):
            yield Company(id=c["id"], name=c.get("name", ""), domain=(c.get("website") or "").lower(),
                          country=(c.get("address") or {}).get("country", ""), status=c.get("status", "Active"))

    def list_products(self) -> Iterator[Product]:
        for p in self._pages("products"):
            yield Product(id=p["id"], name=p.get("name", ""), vendor=p.get("vendorName", ""),
                          sku=p.get("vendorSku") or p.get("sku") or "", description=p.get("shortDescription") or "",
                          requires_commitment=bool(p.get("requiresCommitment")))

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]:
        body = self.http.get_json(f"products/{product_id}/pricing")
        prices = []
        for option in body.get("content", []):
            term = _BILLING_TERMS.get(option.get("billingTerm", ""))
            if term is None:
                continue  # Trial / Activation / 2-Year have no cspb_term code
            for rate in option.get("rates", []):
                prices.append(Price(
                    product_id=product_id, billing_term=term,
                    commitment_term=_COMMITMENT_TERMS.get(option.get("commitmentTerm") or ""),
                    currency=currency or self.currency, unit_cost=parse_decimal(rate["partnerBuyRate"]),
                    suggested_price=_money(rate.get("suggestedRetailPrice")),
                    charge_type=rate.get("chargeType", "Per Unit"),
                    min_quantity=int(rate.get("startQuantityRange") or 1),
                    max_quantity=rate.get("endQuantityRange")))
        return prices

    def _subscription(self, s: dict[str, Any]) -> Subscription:
        months = s.get("commitmentTermMonths")
        commitment = {1: MONTHLY, 12: ANNUAL, 36: TRIENNIAL}.get(int(months)) if months else None
        return Subscription(
            id=s["id"], company_id=s["companyId"], product_id=s["productId"], quantity=int(s["quantity"]),
            status=_STATUSES.get(s.get("status", ""), "Pending"),
            billing_term=_BILLING_TERMS.get(s.get("billingTerm", ""), s.get("billingTerm", "")),
            commitment_term=commitment, start_date=_date(s.get("startDate")),
            commitment_end_date=_date(s.get("commitmentEndDate")), unit_cost=_money(s.get("price")),
            currency=s.get("currencyCode") or self.currency)

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        params = {"companyId": company_id} if company_id else {}
        for s in self._pages("subscriptions", **params):
            yield self._subscription(s)

    def get_subscription(self, subscription_id: str) -> Subscription:
        return self._subscription(self.http.get_json(f"subscriptions/{subscription_id}"))

    def list_invoices(self) -> Iterator[Invoice]:
        for i in self._pages("invoices"):
            yield Invoice(id=i["id"], invoice_date=_date(i.get("invoiceDate")), status=i.get("status", ""),
                          total=parse_decimal(i.get("total", "0")), balance=parse_decimal(i.get("balance", "0")),
                          currency=i.get("currencyCode") or self.currency, due_date=_date(i.get("dueDate")))

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        for i in self._pages(f"invoices/{invoice_id}/items"):
            quantity = parse_decimal(i.get("quantity", "0"))
            price = parse_decimal(i.get("price", i.get("unitPrice", "0")))
            yield InvoiceLine(
                invoice_id=invoice_id, line_id=i["id"], company_id=i.get("companyId", ""),
                subscription_id=i.get("subscriptionId") or "", product_id=i.get("productId", ""),
                description=i.get("productName", ""), quantity=quantity, unit_cost=price,
                amount=parse_decimal(i["total"]) if i.get("total") is not None else quantity * price,
                currency=i.get("currencyCode") or self.currency, period_start=_date(i.get("startPeriod")),
                period_end=_date(i.get("endPeriod")), charge_type=i.get("chargeType", ""),
                kind="onetime" if i.get("chargeType") == "One-Time" else "license")

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        for u in self._pages(f"subscriptions/{subscription_id}/usage-summaries"):
            if u.get("period") and u["period"] != period:
                continue
            quantity = parse_decimal(u.get("quantity", "0"))
            amount = parse_decimal(u.get("partnerTotal", "0"))
            yield InvoiceLine(
                invoice_id="", line_id=u["id"], company_id=u.get("companyId", ""), subscription_id=subscription_id,
                product_id=u.get("productId", ""), description=f"{u.get('vendorName', '')} {u.get('resourceGroup', '')}"
                .strip(), quantity=quantity, unit_cost=amount / quantity if quantity else amount, amount=amount,
                currency=u.get("currencyCode") or self.currency, charge_type="Usage", kind="usage")

    # -- writing ---------------------------------------------------------------------------------
    def _commitment_id(self, product_id: str, commitment_term: str) -> str | None:
        """The commitment option's id, or None for a product sold without commitments (a
        month-to-month product: Dynamics still records its term as P1M)."""
        label = _TO_PAX8_COMMITMENT.get(commitment_term)
        body = self.http.get_json(f"products/{product_id}/dependencies")
        options = body.get("commitmentDependencies") or []
        for c in options:
            if c.get("term") == label:
                return str(c["id"])
        if not options and commitment_term == MONTHLY:
            return None
        raise ValidationError(f"Pax8 offers no {commitment_term} commitment for product {product_id}")

    def _find_committed_order(self, company_id: str, line: dict[str, Any], since: datetime) -> dict[str, Any] | None:
        for order in self._pages("orders", companyId=company_id):
            created = datetime.fromisoformat(order["createdDate"].replace("Z", "+00:00"))
            if created < since:
                continue
            for item in order.get("lineItems", []):
                if (item.get("productId") == line["productId"] and item.get("quantity") == line["quantity"]
                        and item.get("billingTerm") == line["billingTerm"]):
                    return order
        return None

    def resolve_product_id(self, product_ref: str) -> str:
        """The Pax8 product id for `product_ref`: a Pax8 id as it is, or the id Dynamics keys a
        subscription by (Microsoft's "productId:skuId[:availabilityId]", or another vendor's SKU),
        matched on the product's vendorSku / sku. The catalog is read once per adapter."""
        ref = (product_ref or "").strip()
        if _UUID.match(ref):
            return ref
        if self._sku_index is None:
            index: dict[str, str] = {}
            for p in self._pages("products"):
                for field in ("sku", "vendorSku"):  # vendorSku wins a clash: it is what Dynamics holds
                    if p.get(field):
                        index[str(p[field]).upper()] = p["id"]
            self._sku_index = index
        parts = ref.split(":")
        # Longest prefix first: Dynamics may carry the availability id, Pax8's vendorSku does not.
        for n in range(len(parts), 0, -1):
            found = self._sku_index.get(":".join(parts[:n]).upper())
            if found:
                return found
        raise ValidationError(f"Pax8 sells no product matching {ref!r} (by id, vendorSku or sku)")

    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str) -> OrderResult:
        check_term(billing_term, "billing_term")
        check_term(commitment_term, "commitment_term", optional=True)
        if quantity < 1:
            raise ValidationError("quantity must be at least 1")
        product_id = self.resolve_product_id(product_id)
        line: dict[str, Any] = {"productId": product_id, "quantity": quantity, "lineItemNumber": 1,
                                "billingTerm": _TO_PAX8_BILLING[billing_term]}
        if commitment_term:
            commitment_id = self._commitment_id(product_id, commitment_term)
            if commitment_id:
                line["commitmentTermId"] = commitment_id
        body = {"companyId": company_id, "orderedBy": "Pax8 Partner", "lineItems": [line]}
        # Clock skew allowance: the server stamps createdDate, not us.
        since = datetime.now(UTC) - timedelta(minutes=2)
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._once.request("POST", "orders", json=body,
                                              headers={"Idempotency-Key": idempotency_key}, ok=(200, 201))
                order = response.json()
                replayed = response.headers.get("Idempotent-Replayed") == "true"
                break
            except RetriableError as exc:
                found = self._find_committed_order(company_id, line, since)
                if found is not None:
                    log.info("pax8 order %s was committed before the failure; not ordering again", found["id"])
                    order, replayed = found, True
                    break
                if attempt >= self._retry.max_attempts:
                    raise
                self._retry.sleep(self._retry.wait_seconds(attempt, exc))
        return OrderResult(order_id=order["id"], status="Provisioned",
                           subscription_ids=tuple(i["subscriptionId"] for i in order.get("lineItems", [])
                                                  if i.get("subscriptionId")),
                           replayed=replayed)

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str) -> Subscription:
        # An absolute quantity is idempotent by itself; the key is kept for the log trail.
        if quantity < 1:
            raise ValidationError("quantity must be at least 1; cancel the subscription instead")
        body = self.http.request("PUT", f"subscriptions/{subscription_id}", json={"quantity": quantity}).json()
        return self._subscription(body)

    def cancel(self, subscription_id: str, idempotency_key: str) -> Subscription:
        current = self.get_subscription(subscription_id)
        if current.status == "Cancelled":
            return current
        self.http.request("DELETE", f"subscriptions/{subscription_id}")
        return self.get_subscription(subscription_id)
