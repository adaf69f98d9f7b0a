"""Ingram Micro Cloud Marketplace (CMP, CloudBlue Commerce) Marketplace API adapter, for Microsoft CSP.
Not Xvantage: its order details carry no subscriptions (distributors_facts.md section 2).

UNVERIFIED. The shapes come from a third-party copy of the SimpleAPI 1.15 spec and Ingram's KB
([3P-spec] / [V kb] in the facts); no real account or official sandbox was used. That is why the
adapter is not in sync.provisioning.default_adapters: a deployment constructs it on purpose
(`IngramAdapter(base_url, user, password, subscription_key)`) once the facts below are confirmed.
What is assumed, each where the code relies on it:
- token: POST {base}/token with HTTP Basic user:password, X-Subscription-Key and
  {"marketplace": "us"} -> {token, expiresInSeconds}; refreshed by asking again before it ends;
- every call: Bearer token + X-Subscription-Key; lists page offset/limit -> pagination.total;
- orders are typed (sales, change, cancellation) and provisioned asynchronously: a sales order's
  products[].subscriptionId appears once it completed (we read the order once after the POST);
- a change order's quantity is the new total [?] (so it is declared safe to resend);
- a cancellation order may wait for an approval in the UI [V]; through the API it is [?]: a
  cancellation still pending is reported as Pending, the next sync shows the outcome;
- auto-renew: PATCH /subscriptions/{id} {"renewalStatus": bool};
- errors: {timeStamp, status, message, path, correlationId} and an X-Correlation-ID header;
- no idempotency key: a sales order is POSTed once and carries our reference as poNumber, which
  find_orders searches for before any new POST (sync/order_once.py), as for TD SYNNEX;
- the customer's domain (how provider accounts map to CRM accounts) is its admin contact's
  email domain [?].
The provider subscription id Dynamics keeps is CMP's subscription id (change and cancellation
orders name it); Microsoft's id is products[].vendorSubscriptionId.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import requests

from billing.models import Provider
from billing.money import parse_decimal
from distributors import _http
from distributors.base import (
    ANNUAL,
    MONTHLY,
    TRIENNIAL,
    AdapterBase,
    Company,
    Invoice,
    InvoiceLine,
    OrderCandidate,
    OrderContext,
    OrderResult,
    Price,
    Product,
    Subscription,
    check_new_quantity,
    check_order,
    utc_when,
)
from distributors.base import money_or_none as _money
from shared.errors import IntegrationError, ValidationError
from shared.http import RetryPolicy
from shared.logging import get_logger

log = get_logger(__name__)

PAGE_SIZE = 100
PAGING = _http.OffsetPaging(offset="offset", limit="limit", items="data", total=("pagination", "total"))
# Asked for again a minute before it ends, and never kept for less than half a minute.
TOKEN_MARGIN, TOKEN_FLOOR = 60.0, 30.0
_STATUSES = {"active": "Active", "pending": "Pending", "hold": "Suspended", "terminated": "Cancelled",
             "removed": "Cancelled"}
_PERIODS = {("month", 1): MONTHLY, ("year", 1): ANNUAL, ("year", 3): TRIENNIAL, ("month", 12): ANNUAL,
            ("month", 36): TRIENNIAL}
_BACK = {MONTHLY: {"type": "month", "duration": 1}, ANNUAL: {"type": "year", "duration": 1},
         TRIENNIAL: {"type": "year", "duration": 3}}


def _error_text(response: requests.Response, body: dict[str, Any], fallback: str) -> _http.ErrorText:
    """{timeStamp, status, message, path, correlationId}; the X-Correlation-ID header wins over the body's."""
    message = str(body["message"]) if body.get("message") else fallback
    correlation = response.headers.get("X-Correlation-ID") or body.get("correlationId")
    suffix = f" (correlation id {correlation}, quote it to Ingram support)" if correlation else ""
    return _http.ErrorText(message + suffix)


ingram_error_decoder = _http.error_decoder("Ingram Micro", _error_text)


def _basic_token(url: str, basic: str, subscription_key: str, marketplace: str,
                 timeout: float) -> Callable[[], tuple[str, float]]:
    """POST {base}/token with HTTP Basic and the subscription key; {token, expiresInSeconds} (no refresh token)."""

    def fetch() -> tuple[str, float]:
        response = requests.post(url, json={"marketplace": marketplace}, timeout=timeout,
                                 headers={"Authorization": f"Basic {basic}", "X-Subscription-Key": subscription_key})
        if response.status_code != 200:
            raise ingram_error_decoder(response)
        body = response.json()
        return str(body["token"]), float(body.get("expiresInSeconds") or 300)

    return fetch


class IngramToken(_http.CachedToken):
    """The CMP token: asked for with the API user's credentials, kept until shortly before it ends."""

    def __init__(self, base_url: str, user: str, password: str, subscription_key: str, *, marketplace: str = "us",
                 timeout: float = 30.0) -> None:
        self.url = f"{base_url.rstrip('/')}/token"
        self.subscription_key = subscription_key
        self.marketplace = marketplace
        self.timeout = timeout
        basic = base64.b64encode(f"{user}:{password}".encode()).decode()
        super().__init__(_basic_token(self.url, basic, subscription_key, marketplace, timeout),
                         margin=TOKEN_MARGIN, floor=TOKEN_FLOOR)


def _date(value: Any) -> date | None:
    when = utc_when(value, "Ingram Micro")
    return when.date() if when else None


def _period(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    return _PERIODS.get((str(value.get("type") or "").lower(), int(value.get("duration") or 0)))


def _quantity(value: Any) -> int:
    """Quantities come as numbers or as strings such as "2.0"."""
    return int(Decimal(str(value or 0)))


class IngramAdapter(AdapterBase):
    provider = Provider.INGRAM
    # No idempotency key: a lost sales order is settled by find_orders on our poNumber.
    idempotent_orders = False
    finds_by_reference = True
    sets_auto_renew = True

    def __init__(self, base_url: str, user: str, password: str, subscription_key: str, *, marketplace: str = "us",
                 retry: RetryPolicy | None = None, timeout: float = 60.0) -> None:
        if not (user and password and subscription_key):
            raise ValidationError("Ingram Micro needs the CMP API user, its password and the subscription key "
                                  "(Cloud Marketplace > Marketplace API)")
        self.token = IngramToken(base_url, user, password, subscription_key, marketplace=marketplace,
                                 timeout=timeout)
        # No re-authentication on a 401 here: CMP's token lifetime and revocation are unconfirmed ([?]),
        # so a refused token is reported as it is rather than asked for again.
        pair = _http.clients(base_url.rstrip("/"), self.token, ingram_error_decoder, service="ingram",
                             retry=retry, timeout=timeout, headers={"X-Subscription-Key": subscription_key},
                             reauth=False)
        self.http, self._once = pair.http, pair.once

    def _pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        return _http.offset_pages(self.http, path, params, PAGING, size=PAGE_SIZE)

    # -- reading ---------------------------------------------------------------------------------
    def list_companies(self) -> Iterator[Company]:
        for c in self._pages("customers"):
            admin: dict[str, Any] = next((p for p in c.get("contactPersons") or [] if p.get("type") == "admin"), {})
            email = str(admin.get("email") or "")
            yield Company(id=str(c["id"]), name=c.get("name") or "",
                          domain=email.rsplit("@", 1)[-1].lower() if "@" in email else "",
                          country=(c.get("address") or {}).get("countryCode", ""),
                          status="Active" if c.get("status") == "active" else "Inactive")

    def list_products(self) -> Iterator[Product]:
        for p in self._pages("products", vendor="Microsoft"):
            yield Product(id=p["mpn"], name=p.get("name") or p["mpn"], vendor=p.get("vendor") or "",
                          sku=p["mpn"], description=p.get("serviceName") or "", requires_commitment=True)

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]:
        prices = []
        for p in self._pages("products", mpn=product_id):
            billing = _period(p.get("billingPeriod")) or MONTHLY
            for price in p.get("prices") or []:
                if price.get("type") == "recurring" and price.get("amount") is not None:
                    prices.append(Price(product_id=product_id, billing_term=billing,
                                        commitment_term=_period(p.get("subscriptionPeriod")),
                                        currency=price.get("currency") or currency or "USD",
                                        unit_cost=parse_decimal(str(price["amount"]))))
        return prices

    def _subscription(self, s: dict[str, Any]) -> Subscription:
        line = (s.get("products") or [{}])[0]
        return Subscription(
            id=str(s["id"]), company_id=str(s.get("customerId") or ""), product_id=str(line.get("mpn") or ""),
            quantity=_quantity(line.get("quantity")), status=_STATUSES.get(str(s.get("status") or ""), "Pending"),
            billing_term=_period(s.get("billingPeriod")) or MONTHLY,
            commitment_term=_period(s.get("subscriptionPeriod")), start_date=_date(s.get("creationDate")),
            commitment_end_date=_date(s.get("expirationDate")), unit_cost=_money(line.get("unitCost")),
            unit_price=_money(line.get("unitPrice")), product_name=s.get("name") or "",
            sku=str(line.get("mpn") or ""))

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        params = {"customerId": company_id} if company_id else {}
        for s in self._pages("subscriptions", **params):
            yield self._subscription(s)

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        return self._subscription(self.http.get_json(f"subscriptions/{subscription_id}"))

    def list_invoices(self) -> Iterator[Invoice]:
        return iter(())  # rated-data reports (GET /reports), not wired

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        return iter(())

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        return iter(())

    # -- writing ---------------------------------------------------------------------------------
    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str, *,
                    context: OrderContext | None = None) -> OrderResult:
        """One sales order, POSTed once, carrying `idempotency_key` as its poNumber. A failure after
        the request left may have bought: it is raised as it is, and the caller settles it with
        find_orders before any new POST."""
        check_order(billing_term, commitment_term, quantity)
        mpn = ":".join(product_id.split(":")[:2])
        body = {"type": "sales", "customerId": company_id, "poNumber": idempotency_key,
                "products": [{"mpn": mpn, "quantity": quantity, "vendor": "Microsoft",
                              "billingPeriod": _BACK.get(billing_term),
                              "subscriptionPeriod": _BACK.get(commitment_term or billing_term)}]}
        log.info("ingram sales order for customer %s (our poNumber %s)", company_id, idempotency_key)
        order = self._once.request("POST", "orders", json=body, ok=(200, 201)).json()
        return self._settled(order)

    def _settled(self, order: dict[str, Any], *, replayed: bool = False) -> OrderResult:
        """CMP provisions asynchronously: read the order once more for its subscription."""
        if order.get("status") == "submitted":
            try:
                order = self.http.get_json(f"orders/{order['id']}")
            except IntegrationError as exc:
                log.warning("ingram order %s: could not read it back (%s); the next sync fills it in",
                            order["id"], exc.message)
        subs = tuple(str(p["subscriptionId"]) for p in order.get("products") or [] if p.get("subscriptionId"))
        status = {"completed": "Provisioned", "error": "Failed", "cancelled": "Cancelled"}.get(
            str(order.get("status") or ""), "Pending")
        return OrderResult(order_id=str(order["id"]), status=status, subscription_ids=subs, replayed=replayed)

    def find_orders(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    since: datetime, *, reference: str = "") -> list[OrderCandidate]:
        """The customer's sales orders that carry our `reference` as poNumber. Cancelled and failed
        orders bought nothing and are left out."""
        if not reference:
            raise ValidationError("Ingram Micro orders are found by our poNumber; none was given")
        found = []
        for order in self._pages("orders", customerId=company_id):
            if order.get("poNumber") != reference or order.get("type") != "sales":
                continue
            if order.get("status") in ("cancelled", "error"):
                continue
            lines = order.get("products") or []
            found.append(OrderCandidate(str(order["id"]), str(order.get("creationDate") or ""),
                                        tuple(str(p["subscriptionId"]) for p in lines if p.get("subscriptionId")),
                                        sum(_quantity(p.get("quantity")) for p in lines), product_id,
                                        reference=reference))
        return found

    def _order(self, kind: str, subscription_id: str, key: str, quantity: int | None = None) -> dict[str, Any]:
        raw = self.http.get_json(f"subscriptions/{subscription_id}")
        body: dict[str, Any] = {"type": kind, "customerId": raw.get("customerId"), "subscriptionId": subscription_id,
                                "poNumber": key}
        if quantity is not None:
            body["products"] = [{"mpn": (raw.get("products") or [{}])[0].get("mpn"), "quantity": quantity}]
        # A change sets a new total and a cancellation is one state: sending either twice leaves the same.
        answer: dict[str, Any] = self.http.request("POST", "orders", json=body, idempotent=True, ok=(200, 201)).json()
        return answer

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        check_new_quantity(quantity)
        self._order("change", subscription_id, idempotency_key, quantity)
        return self.get_subscription(subscription_id)

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        current = self.get_subscription(subscription_id)
        if current.status == "Cancelled":
            return current
        self._order("cancellation", subscription_id, idempotency_key)
        return self.get_subscription(subscription_id)

    def set_auto_renew(self, subscription_id: str, on: bool, idempotency_key: str, *,
                       company_id: str | None = None) -> Subscription:
        raw = self.http.request("PATCH", f"subscriptions/{subscription_id}", json={"renewalStatus": on}).json()
        return self._subscription(raw)
