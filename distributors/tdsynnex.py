"""TD SYNNEX StreamOne Ion partner API v3 adapter (https://docs.streamone.cloud).

Paths sit under {base}/api/v3/accounts/{accountId}/. Auth: a rotating refresh token
(distributors/tdsynnex_auth.py). Customers, products and orders page with pageSize + pageToken
-> nextPageToken; the account-wide subscription list pages with pagination.limit +
pagination.offset -> paginationResponse.totalSize. Errors answer {error, message, code, details[]}.

Every change is an order (POST .../customers/{c}/orders): a purchase is an orderItem with
action CREATE (productId/skuId/planId of TD SYNNEX's catalogue, attributes renewalSetting and,
for a new tenant, domainName); a seat change is action UPDATE naming the Microsoft subscription in
resourceId with the new total and operations=updatesubscription. There is no idempotency key,
so a CREATE is POSTed once, never retried by the HTTP layer, and carries our reference
(referenceId = the change log's key): find_orders searches the customer's orders for it before
any new POST (sync/order_once.py). An UPDATE sets an absolute total, so sending it twice leaves
the same state; it is declared safe to resend.

Cancelling a subscription is not documented (facts 1.7): `can_cancel` is False unless
CSPB_TDSYNNEX_CANCEL_ATTRIBUTE names the UPDATE attribute to send, and cancel() then raises
ManualActionRequired with what to do in the portal.

The provider subscription id Dynamics keeps is Microsoft's subscription GUID (`subscriptionId`),
which UPDATE orders name and Partner Center shares. Quantities arrive as strings, money as
floats: both are read through int() / Decimal(str()).
Invoices live in the v1 billing API (HTTP Basic): not read here yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
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
    ManualActionRequired,
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
from distributors.tdsynnex_auth import tokens_for
from shared.config import Settings, get_settings
from shared.errors import ValidationError
from shared.http import RetryPolicy
from shared.logging import get_logger

log = get_logger(__name__)

PAGE_SIZE = 1000
SANDBOX_ACCOUNT_ID = "5212"
# The account-wide subscription list pages by offset, unlike the other lists (facts 1.5).
SUBSCRIPTION_PAGING = _http.OffsetPaging(offset="pagination.offset", limit="pagination.limit", items="items",
                                         total=("paginationResponse", "totalSize"), limit_first=True)
# Term and billing-cycle letters of a plan's mpnId ("CFQ7TTC0LH18:0001:P1Y:M"). M and A are in the
# samples; T for a triennial paid up front is our guess.
_CYCLE_LETTER = {MONTHLY: "M", ANNUAL: "A", TRIENNIAL: "T"}
_CYCLES = {"monthly": MONTHLY, "annual": ANNUAL, "yearly": ANNUAL, "triennial": TRIENNIAL}
_STATUSES = {"active": "Active", "suspended": "Suspended", "deleted": "Cancelled", "cancelled": "Cancelled",
             "canceled": "Cancelled", "expired": "Expired", "pending": "Pending", "disabled": "Suspended"}


def _error_text(response: requests.Response, body: dict[str, Any], fallback: str) -> _http.ErrorText:
    """{error, message, code, details[{code, message}]}: the first detail's code is the one kept."""
    message = _http.oauth_message(body, fallback)
    found = [d for d in body.get("details") or [] if isinstance(d, dict)]
    if not found:
        return _http.ErrorText(message, code="")
    return _http.ErrorText(f"{message}: " + _http.joined_details(found, ("code", "message")),
                           code=str(found[0].get("code") or ""), details={"details": found})


tdsynnex_error_decoder = _http.error_decoder("TD SYNNEX", _error_text)


def _when(value: Any) -> datetime | None:
    return utc_when(value, "TD SYNNEX")


def _date(value: Any) -> date | None:
    when = _when(value)
    return when.date() if when else None


def _company(company_id: str | None) -> str:
    if not company_id:
        raise ValidationError("TD SYNNEX changes a subscription under its customer: pass company_id")
    return company_id


def _last(name: str) -> str:
    return str(name or "").rsplit("/", 1)[-1]


def _email_domain(email: Any) -> str:
    text = str(email or "")
    return text.rsplit("@", 1)[-1].lower() if "@" in text else ""


class TdSynnexAdapter(AdapterBase):
    provider = Provider.TDSYNNEX
    # No idempotency key: a lost CREATE is settled by find_orders on our referenceId.
    idempotent_orders = False
    # find_orders(..., reference=key) searches the referenceId we put on every CREATE.
    finds_by_reference = True
    uses_order_context = True
    # get_subscription / change_quantity / cancel take the customer (paths are per customer).
    needs_company = True
    sets_auto_renew = True

    def __init__(self, base_url: str, account_id: str, tokens: Any, *, retry: RetryPolicy | None = None,
                 timeout: float = 60.0, cancel_attribute: str = "") -> None:
        if not account_id:
            raise ValidationError("the TD SYNNEX account id is required (CSPB_TDSYNNEX_ACCOUNT_ID, the reseller's "
                                  "ION account number in the portal's account information)")
        pair = _http.clients(f"{base_url.rstrip('/')}/api/v3/accounts/{account_id}", tokens,
                             tdsynnex_error_decoder, service="tdsynnex", retry=retry, timeout=timeout)
        self.http, self._once = pair.http, pair.once
        name, _, value = cancel_attribute.partition("=")
        self._cancel = (name.strip(), value.strip()) if name.strip() and value.strip() else None
        self._catalog: list[dict[str, Any]] | None = None

    @property
    def can_cancel(self) -> bool:
        return self._cancel is not None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TdSynnexAdapter:
        s = settings or get_settings()
        account = s.tdsynnex_account_id or (SANDBOX_ACCOUNT_ID if s.mode == "sandbox" else "")
        return cls(s.tdsynnex_url, account, tokens_for(s),
                   retry=RetryPolicy.from_settings(s),
                   timeout=s.http_timeout_seconds, cancel_attribute=s.tdsynnex_cancel_attribute)

    # -- paging ----------------------------------------------------------------------------------
    def _token_pages(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        return _http.token_pages(self.http, path, key, params, size=PAGE_SIZE)

    def _offset_pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        return _http.offset_pages(self.http, path, params, SUBSCRIPTION_PAGING, size=PAGE_SIZE)

    # -- reading ---------------------------------------------------------------------------------
    def list_companies(self) -> Iterator[Company]:
        for c in self._token_pages("customers", "customers"):
            country = (c.get("customerAddress") or {}).get("country", "")
            status = "Active" if str(c.get("customerStatus", "ACTIVE")).upper() == "ACTIVE" else "Inactive"
            yield Company(id=_last(c["name"]), name=c.get("customerOrganization") or c.get("customerName") or "",
                          domain=_email_domain(c.get("customerEmail")), country=country, status=status)

    def _products(self) -> list[dict[str, Any]]:
        if self._catalog is None:
            self._catalog = list(self._token_pages("products", "products", language="en"))
        return self._catalog

    def list_products(self) -> Iterator[Product]:
        for p in self._products():
            for sku in (p.get("definition") or {}).get("skus") or []:
                ms = _ms_ids(sku)
                yield Product(id=":".join(ms) if ms else f"{p['id']}:{sku['id']}",
                              name=sku.get("displayName") or p.get("displayName", ""),
                              vendor=str(p.get("vendor") or "").title(), sku=":".join(ms),
                              description=p.get("displayName", ""), requires_commitment=True)

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]:
        _, sku, _ = self._resolve(product_id)
        prices = []
        for plan in sku.get("plans") or []:
            parts = str(plan.get("mpnId") or "").split(":")
            pricing = plan.get("pricing") or {}
            if len(parts) < 4 or pricing.get("cost") is None:
                continue
            billing = next((t for t, letter in _CYCLE_LETTER.items() if letter == parts[3]), None)
            if billing is None:
                continue
            prices.append(Price(product_id=product_id, billing_term=billing, commitment_term=parts[2],
                                currency=pricing.get("currency") or currency or "USD",
                                unit_cost=parse_decimal(str(pricing["cost"])),
                                suggested_price=_money(pricing.get("msrp"))))
        return prices

    def _subscription(self, s: dict[str, Any]) -> Subscription:
        product = ":".join(p for p in (s.get("subscriptionProductId"), s.get("subscriptionSkuId")) if p)
        return Subscription(
            id=s.get("subscriptionId") or s["id"], company_id=str(s.get("customerId") or ""),
            product_id=product or s.get("ccpProductId", ""), quantity=int(str(s.get("subscriptionTotalLicenses")
                                                                              or "0").split(".")[0]),
            status=_STATUSES.get(str(s.get("subscriptionStatus") or "").lower(), "Pending"),
            billing_term=_CYCLES.get(str(s.get("subscriptionBillingCycle") or "").lower(), MONTHLY),
            commitment_term=s.get("subscriptionBillingTerm") or None,
            start_date=_date(s.get("subscriptionStartDate")), commitment_end_date=_date(s.get("subscriptionEndDate")),
            unit_cost=_money(s.get("cost")), unit_price=_money(s.get("price")), currency=s.get("currency") or "",
            product_name=s.get("subscriptionName") or "", sku=product, order_id="")

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        params = {"customerId": company_id} if company_id else {}
        for s in self._offset_pages("subscriptions", **params):
            yield self._subscription(s)

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        if company_id:
            return self._subscription(self.http.get_json(f"customers/{company_id}/subscriptions/{subscription_id}"))
        found = list(self._offset_pages("subscriptions", subscriptionId=subscription_id))
        if not found:
            from shared.errors import NotFoundError

            raise NotFoundError(f"TD SYNNEX has no subscription {subscription_id}", status=404)
        return self._subscription(found[0])

    def auto_renew(self, subscription_id: str, *, company_id: str) -> bool:
        raw = self.http.get_json(f"customers/{company_id}/subscriptions/{subscription_id}")
        return bool(raw.get("autoRenew"))

    def list_invoices(self) -> Iterator[Invoice]:
        return iter(())  # v1 billing API (HTTP Basic), not wired yet

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        return iter(())

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        return iter(())

    # -- catalogue -------------------------------------------------------------------------------
    def _resolve(self, product_ref: str) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
        """(TD SYNNEX product, sku, Microsoft ids) for what Dynamics holds: Microsoft's
        "productId:skuId[:availabilityId]", matched on the SKU's externalId (market,product,sku)."""
        parts = [p.upper() for p in (product_ref or "").split(":") if p]
        for product in self._products():
            for sku in (product.get("definition") or {}).get("skus") or []:
                ms = _ms_ids(sku)
                if ms and [m.upper() for m in ms] == parts[:2]:
                    return product, sku, ms
                if len(parts) == 2 and product["id"].upper() == parts[0] and str(sku["id"]).upper() == parts[1]:
                    return product, sku, ms
        raise ValidationError(f"TD SYNNEX's catalogue has no SKU matching {product_ref!r} (by Microsoft product and "
                              "SKU id in the SKU's externalId)")

    def _plan(self, sku: dict[str, Any], commitment_term: str, billing_term: str) -> dict[str, Any]:
        wanted = f":{commitment_term}:{_CYCLE_LETTER.get(billing_term, '?')}"
        for plan in sku.get("plans") or []:
            if str(plan.get("mpnId") or "").upper().endswith(wanted.upper()):
                found: dict[str, Any] = plan
                return found
        raise ValidationError(f"TD SYNNEX offers no {commitment_term} plan billed {billing_term} for SKU "
                              f"{sku.get('displayName') or sku.get('id')}")

    # -- writing ---------------------------------------------------------------------------------
    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str, *,
                    context: OrderContext | None = None, auto_renew: bool = True) -> OrderResult:
        """One CREATE order, POSTed once, carrying `idempotency_key` as its referenceId (and the
        line's). A failure after the request left may have bought: it is raised as it is, and the
        caller settles it with find_orders before any new POST."""
        check_order(billing_term, commitment_term, quantity)
        product, sku, _ = self._resolve(product_id)
        plan = self._plan(sku, commitment_term or billing_term, billing_term)
        attributes = [{"name": "renewalSetting", "value": "auto-on" if auto_renew else "auto-off"}]
        domain = (context.domain if context else "").lower()
        if domain.endswith(".onmicrosoft.com") and not (context and context.tenant_id):
            attributes.append({"name": "domainName", "value": domain.removesuffix(".onmicrosoft.com")})
        person = context.acceptance if context else None
        if person is not None and not (context and context.tenant_id):
            attributes += [{"name": "agreementDateAgreed", "value": person.accepted_on.isoformat()},
                           {"name": "agreementEmail", "value": person.email},
                           {"name": "agreementFirstName", "value": person.first_name},
                           {"name": "agreementLastName", "value": person.last_name}]
        body = {"referenceId": idempotency_key, "displayName": f"CSPBridge {idempotency_key[:8]}",
                "orderItems": [{"referenceId": f"{idempotency_key}-1", "productId": product["id"], "skuId": sku["id"],
                                "planId": plan["id"], "action": "CREATE", "quantity": quantity,
                                "providerName": product.get("providerName") or "AZURE", "resellerPO": idempotency_key,
                                "attributes": attributes}]}
        log.info("tdsynnex CREATE order for customer %s (our reference %s)", company_id, idempotency_key)
        order = self._once.request("POST", f"customers/{company_id}/orders", json=body, ok=(200, 201)).json()
        return _order_result(order)

    def find_orders(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    since: datetime, *, reference: str = "") -> list[OrderCandidate]:
        """The customer's orders that carry our `reference` as referenceId: every CREATE we send
        names the change log's key there, so a committed send is found exactly, whatever its time
        or quantity. Cancelled and failed orders bought nothing and are left out."""
        if not reference:
            raise ValidationError("TD SYNNEX orders are found by our reference; none was given")
        found = []
        for order in self._token_pages(f"customers/{company_id}/orders", "orders"):
            if order.get("referenceId") != reference:
                continue
            if str(order.get("status") or "").upper() in ("CANCELLED", "FAILED"):
                continue
            lines = order.get("orderItems") or []
            found.append(OrderCandidate(_last(order["name"]), str(order.get("createTime") or ""),
                                        tuple(i["resourceId"] for i in lines if i.get("resourceId")),
                                        sum(int(i.get("quantity") or 0) for i in lines), product_id,
                                        reference=reference))
        return found

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        company_id = _company(company_id)
        check_new_quantity(quantity)
        self._update(company_id, subscription_id, quantity, idempotency_key, [])
        return self.get_subscription(subscription_id, company_id=company_id)

    def set_auto_renew(self, subscription_id: str, on: bool, idempotency_key: str, *,
                       company_id: str | None = None) -> None:
        company_id = _company(company_id)
        current = self.get_subscription(subscription_id, company_id=company_id)
        self._update(company_id, subscription_id, current.quantity, idempotency_key,
                     [{"name": "renewalSetting", "value": "auto-on" if on else "auto-off"}])

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        company_id = _company(company_id)
        raw = self.http.get_json(f"customers/{company_id}/subscriptions/{subscription_id}")
        current = self._subscription(raw)
        if current.status == "Cancelled":
            return current
        if self._cancel is None:
            window = _date(raw.get("cancellationAllowedUntilDate"))
            until = f" (TD SYNNEX allows it until {window.isoformat()})" if window else ""
            raise ManualActionRequired(
                "TD SYNNEX's API has no documented way to cancel a subscription, so nothing was sent. By hand: in "
                f"StreamOne Ion open customer {company_id}, subscription {current.product_name or ''} "
                f"{subscription_id}, and cancel it{until}; the next subscription sync then shows it cancelled. "
                "Once TD SYNNEX confirms the UPDATE attribute that cancels, set CSPB_TDSYNNEX_CANCEL_ATTRIBUTE")
        self._update(company_id, subscription_id, current.quantity, idempotency_key,
                     [{"name": self._cancel[0], "value": self._cancel[1]}])
        return self.get_subscription(subscription_id, company_id=company_id)

    def _update(self, company_id: str, subscription_id: str, quantity: int, key: str,
                extra: list[dict[str, str]]) -> dict[str, Any]:
        raw = self.http.get_json(f"customers/{company_id}/subscriptions/{subscription_id}")
        item = {"referenceId": f"{key}-1", "action": "UPDATE", "resourceId": raw.get("subscriptionId") or
                subscription_id, "productId": raw.get("ccpProductId"), "skuId": raw.get("ccpSkuId"),
                "planId": raw.get("ccpPlanId"), "quantity": quantity,
                "attributes": [{"name": "operations", "value": "updatesubscription"}, *extra]}
        # An absolute total (and setting): sending it twice leaves the same state, so a retry is safe.
        answer: dict[str, Any] = self.http.request("POST", f"customers/{company_id}/orders", idempotent=True,
                                                   json={"referenceId": key, "orderItems": [item]}).json()
        return answer


def _ms_ids(sku: dict[str, Any]) -> list[str]:
    """Microsoft (productId, skuId) from a SKU's externalId "market,productId,skuId"."""
    parts = [p.strip() for p in str(sku.get("externalId") or "").split(",")]
    return parts[1:3] if len(parts) >= 3 else []


def _order_result(order: dict[str, Any], *, replayed: bool = False) -> OrderResult:
    lines = order.get("orderItems") or []
    status = str(order.get("status") or "")
    return OrderResult(order_id=_last(order["name"]),
                       status="Provisioned" if status.upper() == "COMPLETED" else status.title(),
                       subscription_ids=tuple(i["resourceId"] for i in lines if i.get("resourceId")),
                       replayed=replayed)
