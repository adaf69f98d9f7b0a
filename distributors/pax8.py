"""Pax8 partner API adapter (https://devx.pax8.com/ , partner endpoints v1).

Auth is OAuth 2.0 client credentials: POST {base}/v1/token with a JSON body {client_id,
client_secret, audience: "https://api.pax8.com", grant_type: "client_credentials"}; tokens
live 24 h. Lists are page-numbered (page from 0, size <= 200) and answer {"content": [...],
"page": {"size","totalElements","totalPages","number"}}. Errors answer {"type","message",
"instance","status","details":[{message,...}]}. Numbers are JSON numbers; money is read
through Decimal. The partner's side of a price is `partnerCost` (subscriptions) and
`cost`/`costTotal` (invoice items); `price`/`total` are the customer's.

Pax8 documents no idempotency contract for POST /v1/orders, so place_order posts once and never
retries by itself (a retry could buy twice). The provisioning worker records the intent first
(change log Sending) and, on any later attempt, calls find_orders to learn whether the lost POST
was committed (sync/provisioning.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import requests

from billing.models import Provider
from billing.money import parse_decimal
from distributors import _http
from distributors.base import (
    ANNUAL,
    MONTHLY,
    ONE_TIME,
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
from shared.config import Settings, get_settings
from shared.dates import parse_date
from shared.errors import AuthError, ValidationError
from shared.http import HttpClient, RetryPolicy
from shared.logging import get_logger

log = get_logger(__name__)

TOKEN_PATH = "/v1/token"
AUDIENCE = "https://api.pax8.com"
PAGE_SIZE = 200
# Pax8 stamps createdDate on its clock, not ours.
CLOCK_SKEW = timedelta(minutes=5)
# Renew five minutes early so a long page walk never sends an expired token.
TOKEN_MARGIN = 300.0
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

_BILLING_TERMS = {"Monthly": MONTHLY, "Annual": ANNUAL, "3-Year": TRIENNIAL, "One-Time": ONE_TIME}
_TO_PAX8_BILLING = {v: k for k, v in _BILLING_TERMS.items()}
_COMMITMENT_TERMS = {"Monthly": MONTHLY, "1-Month": MONTHLY, "1-Year": ANNUAL, "Annual": ANNUAL,
                     "3-Year": TRIENNIAL}
_TO_PAX8_COMMITMENT = {v: k for k, v in _COMMITMENT_TERMS.items()}
_STATUSES = {
    "Active": "Active", "Activated": "Active", "Cancelled": "Cancelled", "Trial": "Trial", "Converted": "Expired",
    "PendingManual": "Pending", "PendingAutomated": "Pending", "PendingCancel": "Pending",
    "WaitingForDetails": "Pending", "PendingActivation": "Pending",
}


def _error_text(response: requests.Response, body: dict[str, Any], fallback: str) -> _http.ErrorText:
    """{type, message, instance, status, details[{message, instance?}]}, or an OAuth error from /token."""
    message = _http.oauth_message(body, fallback)
    if not body.get("details"):
        return _http.ErrorText(message)
    return _http.ErrorText(f"{message}: " + _http.joined_details(body["details"], ("instance", "message")),
                           details={"details": body["details"]})


pax8_error_decoder = _http.error_decoder("Pax8", _error_text)


def _client_credentials(http: HttpClient, token_url: str, client_id: str,
                        client_secret: str) -> Callable[[], tuple[str, float]]:
    """POST /v1/token with a JSON body (not a form): Pax8's client-credentials grant for its audience."""

    def fetch() -> tuple[str, float]:
        body = http.post_json(token_url, {"client_id": client_id, "client_secret": client_secret,
                                          "audience": AUDIENCE, "grant_type": "client_credentials"}, auth=False)
        if not body or not body.get("access_token"):
            raise AuthError("Pax8 token endpoint returned no access_token")
        return str(body["access_token"]), float(body.get("expires_in", 3600))

    return fetch


def parse_when(value: Any) -> datetime | None:
    """A Pax8 date or date-time as an aware UTC datetime. Pax8 sends both shapes for the same
    field ("createdDate": "2020-12-01" on orders and "2020-12-01T13:20:13.153-0700" on a
    subscription's history), so a date alone means midnight UTC of that day."""
    return utc_when(value, "Pax8")


def _date(value: Any) -> date | None:
    # A timestamp's own calendar day is what Pax8 shows, not the UTC day.
    try:
        return parse_date(value or None)
    except ValueError:
        raise ValidationError(f"Pax8 sent an unreadable date {value!r}") from None


class Pax8Adapter(AdapterBase):
    provider = Provider.PAX8
    # Pax8 has no idempotency key for POST /orders: a lost response is settled by find_orders.
    idempotent_orders = False
    # place_order takes the customer's OrderContext (Microsoft provisioning details).
    uses_order_context = True

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        token_url: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        currency: str = "USD",
    ) -> None:
        if not client_id or not client_secret:
            raise AuthError("Pax8 client id and secret are required")
        retry = retry or RetryPolicy()
        self.currency = currency
        token_url = token_url or base_url.rstrip("/") + TOKEN_PATH
        token_http = HttpClient(token_url, error_decoder=pax8_error_decoder, retry=retry, timeout=timeout)
        self._token = _http.CachedToken(_client_credentials(token_http, token_url, client_id, client_secret),
                                        margin=TOKEN_MARGIN)
        pair = _http.clients(base_url.rstrip("/") + "/v1", self._token, pax8_error_decoder, service="pax8",
                             retry=retry, timeout=timeout)
        self.http, self._once = pair.http, pair.once
        self._retry = retry
        self._sku_index: dict[str, str] | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Pax8Adapter:
        s = settings or get_settings()
        return cls(s.pax8_url, s.pax8_client_id or ("sandbox" if s.mode == "sandbox" else ""),
                   s.pax8_client_secret.reveal() or ("sandbox-secret" if s.mode == "sandbox" else ""),
                   retry=RetryPolicy.from_settings(s),
                   timeout=s.http_timeout_seconds)

    # -- reading ---------------------------------------------------------------------------------
    def _pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        return _http.numbered_pages(self.http, path, params, size=PAGE_SIZE)

    def list_companies(self) -> Iterator[Company]:
        for c in self._pages("companies"):
            yield Company(id=c["id"], name=c.get("name", ""), domain=_domain(c.get("website")),
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
                continue  # Trial / Activation / 2-Year have no term code
            for rate in option.get("rates", []):
                end = rate.get("endQuantityRange")
                prices.append(Price(
                    product_id=product_id, billing_term=term,
                    commitment_term=_COMMITMENT_TERMS.get(option.get("commitmentTerm") or ""),
                    currency=currency or self.currency, unit_cost=parse_decimal(rate["partnerBuyRate"]),
                    suggested_price=_money(rate.get("suggestedRetailPrice")),
                    charge_type=rate.get("chargeType", "Per Unit"),
                    min_quantity=max(1, int(rate.get("startQuantityRange") or 1)),
                    max_quantity=None if end is None else int(end)))
        return prices

    def _subscription(self, s: dict[str, Any]) -> Subscription:
        # commitmentTerm is an object {id, term, endDate} (SubscriptionCommitment in Pax8's OpenAPI).
        raw = s.get("commitmentTerm")
        commitment: dict[str, Any] = raw if isinstance(raw, dict) else {}
        return Subscription(
            id=s["id"], company_id=s["companyId"], product_id=s["productId"], quantity=int(s["quantity"]),
            status=_STATUSES.get(s.get("status", ""), "Pending"),
            billing_term=_BILLING_TERMS.get(s.get("billingTerm", ""), s.get("billingTerm", "")),
            commitment_term=_COMMITMENT_TERMS.get(commitment.get("term") or ""),
            start_date=_date(s.get("startDate")), commitment_end_date=_date(commitment.get("endDate")),
            unit_cost=_money(s.get("partnerCost")), unit_price=_money(s.get("price")),
            currency=s.get("currencyCode") or self.currency, product_name=s.get("productName") or "")

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        params = {"companyId": company_id} if company_id else {}
        for s in self._pages("subscriptions", **params):
            yield self._subscription(s)

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        return self._subscription(self.http.get_json(f"subscriptions/{subscription_id}"))

    def list_invoices(self) -> Iterator[Invoice]:
        for i in self._pages("invoices"):
            yield Invoice(id=i["id"], invoice_date=_date(i.get("invoiceDate")), status=i.get("status", ""),
                          total=parse_decimal(i.get("total", 0)), balance=parse_decimal(i.get("balance", 0)),
                          currency=i.get("currencyCode") or self.currency, due_date=_date(i.get("dueDate")))

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        """The partner's cost of each item: `cost` per unit and `costTotal` (else `amountDue`).
        `price`, `subTotal` and `total` are the customer's side and are not read as cost."""
        for i in self._pages(f"invoices/{invoice_id}/items"):
            quantity = parse_decimal(i.get("quantity") or 0)
            unit_cost = _money(i.get("cost"))
            amount = _money(i.get("costTotal"))
            if amount is None:
                amount = _money(i.get("amountDue"))
            if amount is None:
                amount = (unit_cost or Decimal(0)) * quantity
            if unit_cost is None:
                unit_cost = amount / quantity if quantity else amount
            kind = i.get("type") or ""
            yield InvoiceLine(
                invoice_id=invoice_id, line_id=i["id"], company_id=i.get("companyId", ""),
                subscription_id=i.get("subscriptionId") or "", product_id=i.get("productId", ""),
                description=i.get("productName") or i.get("description") or "", quantity=quantity,
                unit_cost=unit_cost, amount=amount, currency=i.get("currencyCode") or self.currency,
                period_start=_date(i.get("startPeriod")), period_end=_date(i.get("endPeriod")),
                charge_type=i.get("chargeType", ""),
                kind="onetime" if kind == "one-time" or i.get("term") in ("One-Time", "One-time") else "license")

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        """One line per usage summary for the month `period` (YYYY-MM). A summary carries no
        period of its own (its totals are the current month's), so the month is read from the
        summary's daily usage lines, which Pax8 serves one usageDate at a time."""
        first, last = _month(period)
        today = datetime.now(UTC).date()
        for summary in self._pages(f"subscriptions/{subscription_id}/usage-summaries"):
            quantity = cost = Decimal(0)
            currency = summary.get("currencyCode") or self.currency
            seen = False
            day = first
            while day <= min(last, today):
                for line in self._pages(f"usage-summaries/{summary['id']}/usage-lines",
                                        usageDate=day.isoformat()):
                    seen = True
                    quantity += parse_decimal(line.get("quantity") or 0)
                    cost += parse_decimal(line.get("partnerTotal") or 0)
                    currency = line.get("currencyCode") or currency
                day += timedelta(days=1)
            if not seen:
                continue
            yield InvoiceLine(
                invoice_id="", line_id=f"{summary['id']}:{period}", company_id=summary.get("companyId", ""),
                subscription_id=subscription_id, product_id=summary.get("productId", ""),
                description=f"{summary.get('vendorName', '')} {summary.get('resourceGroup', '')}".strip(),
                quantity=quantity, unit_cost=cost / quantity if quantity else cost, amount=cost, currency=currency,
                period_start=first, period_end=last, charge_type="Usage", kind="usage")

    # -- writing ---------------------------------------------------------------------------------
    def _commitment_id(self, product_id: str, commitment_term: str) -> str | None:
        """The commitment option's id, or None for a product sold without commitments (a
        month-to-month product: Dynamics still records its term as P1M)."""
        labels = {k for k, v in _COMMITMENT_TERMS.items() if v == commitment_term}
        body = self.http.get_json(f"products/{product_id}/dependencies")
        options = body.get("commitmentDependencies") or []
        for c in options:
            if c.get("term") in labels:
                return str(c["id"])
        if not options and commitment_term == MONTHLY:
            return None
        raise ValidationError(f"Pax8 offers no {commitment_term} commitment for product {product_id}")

    def provisioning_details(self, product_id: str, context: OrderContext | None) -> list[dict[str, Any]]:
        """The product's provisioning details (GET /products/{id}/provision-details) filled from
        what the product knows; a key we have no value for is left out (Pax8 then holds the
        subscription WaitingForDetails, which the sync shows as Pending)."""
        if context is None:
            return []
        asked = self.http.get_json(f"products/{product_id}/provision-details").get("content") or []
        known = _known_details(context)
        details = []
        for item in asked:
            key = item.get("key") or ""
            value = known.get(key)
            if key == "msCustExists":
                value = _pick(item.get("possibleValues") or [], "yes" if context.tenant_id else "no")
            if value:
                details.append({"key": key, "values": [value]})
        return details

    def find_orders(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    since: datetime, *, reference: str = "") -> list[OrderCandidate]:
        """Orders of `company_id` created at or after `since` with a line for this product,
        quantity and billing term: what a POST sent at `since` may have committed. An order's
        createdDate is a date, so the day is compared, then the line's subscription's
        createdDate (a date-time when Pax8 gives one) narrows it down; subscriptions of the
        company created since then that no order lists are candidates too. Pax8 keeps no
        reference of ours on an order, so `reference` narrows nothing."""
        product_id = self.resolve_product_id(product_id)
        term = _TO_PAX8_BILLING.get(billing_term, billing_term)
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        found: list[OrderCandidate] = []
        listed: set[str] = set()
        subs = {s["id"]: s for s in self._pages("subscriptions", companyId=company_id, productId=product_id)}
        for order in self._pages("orders", companyId=company_id):
            created = parse_when(order.get("createdDate"))
            for item in order.get("lineItems") or []:
                if item.get("subscriptionId"):
                    listed.add(item["subscriptionId"])
            if created is None or created.date() < since.date():
                continue
            lines = [i for i in order.get("lineItems") or [] if i.get("productId") == product_id
                     and int(i.get("quantity") or 0) == quantity and i.get("billingTerm", term) == term]
            lines = [i for i in lines if not _created_before(subs.get(i.get("subscriptionId") or ""), since)]
            if lines:
                found.append(OrderCandidate(order["id"], str(order.get("createdDate")),
                                            tuple(i["subscriptionId"] for i in lines if i.get("subscriptionId")),
                                            quantity, product_id))
        for sub in subs.values():
            created = parse_when(sub.get("createdDate"))
            if (sub["id"] in listed or created is None or created.date() < since.date()
                    or _created_before(sub, since) or int(sub.get("quantity") or 0) != quantity):
                continue
            found.append(OrderCandidate("", str(sub.get("createdDate")), (sub["id"],), quantity, product_id))
        return found

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
                    commitment_term: str | None, idempotency_key: str, *,
                    context: OrderContext | None = None) -> OrderResult:
        """One POST /orders. `idempotency_key` is ours only (logged, never sent: Pax8 has no
        such header). A failure after the request left may have bought: it is raised as it
        is, and the caller settles it with find_orders before any new POST."""
        check_order(billing_term, commitment_term, quantity)
        product_id = self.resolve_product_id(product_id)
        line: dict[str, Any] = {"productId": product_id, "lineItemNumber": 1, "quantity": quantity,
                                "billingTerm": _TO_PAX8_BILLING[billing_term]}
        if commitment_term:
            commitment_id = self._commitment_id(product_id, commitment_term)
            if commitment_id:
                line["commitmentTermId"] = commitment_id
        details = self.provisioning_details(product_id, context)
        if details:
            line["provisioningDetails"] = details
        body = {"companyId": company_id, "orderedBy": "Pax8 Partner", "lineItems": [line]}
        log.info("pax8 order for company %s (our reference %s)", company_id, idempotency_key)
        order = self._once.request("POST", "orders", json=body, ok=(200, 201)).json()
        return _order_result(order)

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        # An absolute quantity is idempotent by itself; the key is kept for the log trail.
        check_new_quantity(quantity)
        body = self.http.request("PUT", f"subscriptions/{subscription_id}", json={"quantity": quantity}).json()
        return self._subscription(body)

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        current = self.get_subscription(subscription_id)
        if current.status == "Cancelled":
            return current
        self.http.request("DELETE", f"subscriptions/{subscription_id}")
        return self.get_subscription(subscription_id)


def _order_result(order: dict[str, Any], *, replayed: bool = False) -> OrderResult:
    return OrderResult(order_id=order["id"], status="Provisioned",
                       subscription_ids=tuple(i["subscriptionId"] for i in order.get("lineItems", [])
                                              if i.get("subscriptionId")),
                       replayed=replayed)


def _created_before(sub: dict[str, Any] | None, since: datetime) -> bool:
    """True when the subscription's createdDate carries a time and it is before `since`."""
    raw = (sub or {}).get("createdDate")
    if not raw or "T" not in str(raw):
        return False
    created = parse_when(raw)
    return created is not None and created < since - CLOCK_SKEW


def _domain(website: Any) -> str:
    text = str(website or "").strip().lower()
    for prefix in ("https://", "http://"):
        text = text.removeprefix(prefix)
    return text.split("/")[0].removeprefix("www.")


def _known_details(context: OrderContext) -> dict[str, str]:
    known: dict[str, str] = {}
    domain = context.domain.lower()
    if domain.endswith(".onmicrosoft.com"):
        # Pax8 asks for the .onmicrosoft.com prefix only ("mydomain", not "mydomain.onmicrosoft.com").
        known["msDomain"] = domain.removesuffix(".onmicrosoft.com")
    if context.tenant_id:
        known["msTenantId"] = context.tenant_id
    person = context.acceptance
    if person is not None:
        known.update({"mca2020FirstName": person.first_name, "mca2020LastName": person.last_name,
                      "mca2020Email": person.email, "mca2020EffectiveDate": person.accepted_on.isoformat(),
                      "arrowContactFirstName": person.first_name, "arrowContactLastName": person.last_name,
                      "arrowContactEmail": person.email})
    return {k: v for k, v in known.items() if v}


def _pick(possible: list[str], answer: str) -> str:
    return next((v for v in possible if v.strip().lower().startswith(answer)), "")


def _month(period: str) -> tuple[date, date]:
    if not re.fullmatch(r"\d{4}-\d{2}", period or ""):
        raise ValidationError(f"period must be YYYY-MM, got {period!r}")
    first = date(int(period[:4]), int(period[5:]), 1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)
