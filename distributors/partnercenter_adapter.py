"""Partner Center behind the distributor port (distributors.base.DistributorAdapter), for the sync
and provisioning engine, plus the two Partner Center-only calls it needs (price sheet, MCA).

Wire shapes (Microsoft Learn, partner-center/developer/...):
- customers: `GET /v1/customers?size=N`, next page via `MS-ContinuationToken` (get-a-list-of-customers);
- subscriptions: `GET|PATCH /v1/customers/{id}/subscriptions[/{sid}]` (subscription-resources);
  seats change with `{"quantity": n}`, a new-commerce cancel is `{"status": "deleted"}`
  (cancel-new-commerce-license-subscriptions);
- purchase: `POST /v1/customers/{id}/carts` then `POST .../carts/{cartId}/checkout`
  (create-a-cart, checkout-a-cart); line items name `catalogItemId` = productId:skuId:availabilityId,
  `termDuration` (P1M/P1Y/P3Y) and `billingCycle` (monthly/annual/triennial);
- price sheet: `GET /sales/v1/pricesheets(Market='US',PricesheetView='updatedlicensebased')/$value` (CSV);
- MCA: `GET /v1/agreements?agreementType=MicrosoftCustomerAgreement` for the template id, then
  `POST /v1/customers/{id}/agreements` (confirm-customer-consent-customer-agreement).
Every write sends `MS-RequestId`, derived from the caller's idempotency key, so a retry or a
redelivery replays the first answer instead of buying twice; each step of a purchase (cart,
checkout) gets its own id derived from the same key.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import requests

from distributors.base import (
    Company,
    Invoice,
    InvoiceLine,
    OrderResult,
    Price,
    Product,
    Subscription,
)
from shared.errors import FatalError, IntegrationError, ValidationError, error_for_status
from shared.http import HttpClient, RetryPolicy, TokenProvider, parse_retry_after
from shared.logging import redact

_KEY_NAMESPACE = uuid.UUID("0b9f1f7e-2a55-4c1b-8d0e-4f3f4c0a6d21")
STATUS_LABELS = {"active": "Active", "suspended": "Suspended", "deleted": "Cancelled", "expired": "Expired",
                 "pending": "Pending", "disabled": "Suspended"}
CYCLE_TO_TERM = {"monthly": "P1M", "annual": "P1Y", "triennial": "P3Y", "none": "P1M", "onetime": "OneTime"}
TERM_TO_CYCLE = {"P1M": "monthly", "P1Y": "annual", "P3Y": "triennial", "OneTime": "onetime"}
PAGE_SIZE = 500


def request_id(idempotency_key: str, step: str = "") -> str:
    """A GUID for MS-RequestId: the key itself when it is one and no step is named, else derived."""
    if not step:
        try:
            return str(uuid.UUID(idempotency_key))
        except ValueError:
            pass
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{idempotency_key}|{step}"))


def decode_error(response: requests.Response) -> IntegrationError:
    """Partner Center answers `{"code": 800036, "description": "...", "errorName": "..."}`."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message, code = response.reason or f"HTTP {response.status_code}", None
    if isinstance(body, dict):
        message = str(body.get("description") or body.get("message") or message)
        code = body.get("errorName") or body.get("code")
        if isinstance(body.get("error"), dict):
            message = str(body["error"].get("message") or message)
            code = body["error"].get("code") or code
    kind = error_for_status(response.status_code)
    return kind(redact(message), status=response.status_code, code=str(code) if code is not None else None,
                retry_after=parse_retry_after(response.headers.get("Retry-After")))


@dataclass(frozen=True)
class PcSubscription(Subscription):
    """The port's Subscription plus what Partner Center adds and the sync stores."""

    auto_renew: bool | None = None
    offer_id: str = ""
    availability_id: str = ""
    cancellation_allowed_until: datetime | None = None


def _date(value: Any) -> date | None:
    if not value:
        return None
    text = str(value)
    if text.startswith("9999"):
        return None  # the Azure plan's "no end"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).date()


def _dt(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


class PartnerCenterAdapter:
    provider = "partnercenter"
    # Partner Center addresses a subscription under its customer: the engine passes company_id.
    needs_company = True

    def __init__(self, base_url: str, token_provider: TokenProvider | None, *, retry: RetryPolicy | None = None,
                 timeout: float = 60.0, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient(base_url, token_provider=token_provider, error_decoder=decode_error,
                                       retry=retry, timeout=timeout,
                                       default_headers={"Accept": "application/json", "X-Locale": "en-US"})
        self._mca_template: str | None = None

    @classmethod
    def from_settings(cls, settings: Any = None) -> PartnerCenterAdapter:
        from shared.auth import token_provider_for
        from shared.config import get_settings

        settings = settings or get_settings()
        retry = RetryPolicy(max_attempts=settings.http_max_attempts, cap_seconds=settings.http_backoff_cap_seconds)
        return cls(settings.partner_center_url,
                   token_provider_for(settings, "https://api.partnercenter.microsoft.com"),
                   retry=retry, timeout=settings.http_timeout_seconds)

    # ---- reads -------------------------------------------------------------------------------

    def list_companies(self) -> Iterator[Company]:
        token = ""
        seen: set[str] = set()
        while True:
            headers = {"MS-ContinuationToken": token} if token else None
            page = self.http.get_json("v1/customers", params={"size": PAGE_SIZE}, headers=headers)
            for item in page.get("items", []):
                profile = item.get("companyProfile") or {}
                address = (item.get("billingProfile") or {}).get("defaultAddress") or {}
                yield Company(id=item["id"], name=profile.get("companyName") or item["id"],
                              domain=profile.get("domain") or "", country=address.get("country") or "")
            token = page.get("continuationToken") or ""
            if not token:
                return
            if token in seen:
                raise FatalError("Partner Center returned the same continuation token twice")
            seen.add(token)

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        if company_id is None:
            raise ValidationError("Partner Center lists subscriptions per customer: pass company_id")
        page = self.http.get_json(f"v1/customers/{company_id}/subscriptions")
        for item in page.get("items", []):
            yield self._subscription(company_id, item)

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        if company_id is None:
            raise ValidationError("Partner Center reads a subscription under its customer: pass company_id")
        return self._subscription(company_id, self.http.get_json(
            f"v1/customers/{company_id}/subscriptions/{subscription_id}"))

    @staticmethod
    def _subscription(company_id: str, item: dict[str, Any]) -> PcSubscription:
        offer = str(item.get("offerId") or "")
        parts = offer.split(":")
        return PcSubscription(
            id=item["id"], company_id=company_id, product_id=offer, quantity=int(item.get("quantity") or 0),
            status="Trial" if item.get("isTrial") and item.get("status") == "active"
            else STATUS_LABELS.get(str(item.get("status")).lower(), "Pending"),
            billing_term=CYCLE_TO_TERM.get(str(item.get("billingCycle") or "monthly").lower(), "P1M"),
            commitment_term=item.get("termDuration") or None,
            start_date=_date(item.get("effectiveStartDate") or item.get("creationDate")),
            commitment_end_date=_date(item.get("commitmentEndDate")),
            product_name=item.get("offerName") or item.get("friendlyName") or "",
            sku=parts[1] if len(parts) > 1 else "", order_id=item.get("orderId") or "",
            auto_renew=item.get("autoRenewEnabled"), offer_id=offer,
            availability_id=parts[2] if len(parts) > 2 else "",
            cancellation_allowed_until=_dt(item.get("cancellationAllowedUntilDate")),
        )

    def list_azure_entitlements(self, company_id: str, plan_subscription_id: str) -> list[dict[str, Any]]:
        page = self.http.get_json(f"v1/customers/{company_id}/subscriptions/{plan_subscription_id}/azureEntitlements")
        return list(page.get("items", []))

    def get_price_sheet(self, market: str, view: str = "updatedlicensebased") -> list[dict[str, str]]:
        response = self.http.request("GET", f"sales/v1/pricesheets(Market='{market}',PricesheetView='{view}')/$value",
                                     headers={"Accept": "text/csv"})
        text = response.content.decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(text)))

    def list_products(self) -> Iterator[Product]:
        page = self.http.get_json("v1/products", params={"country": "US", "targetView": "OnlineServices"})
        for item in page.get("items", []):
            yield Product(id=item["id"], name=item.get("title") or item["id"], vendor="Microsoft",
                          description=item.get("description") or "")

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]:
        raise FatalError("Partner Center prices come from the price sheet (get_price_sheet), not per product")

    def list_invoices(self) -> Iterator[Invoice]:
        raise FatalError("Partner Center invoices are read by the recon area (partnercenter client)")

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]:
        raise FatalError("Partner Center invoice lines are read by the recon area (partnercenter client)")

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]:
        raise FatalError("Partner Center usage comes from the Graph billing export (recon area)")

    # ---- writes ------------------------------------------------------------------------------

    def _availability(self, product_id: str, sku_id: str) -> str:
        page = self.http.get_json(f"v1/products/{product_id}/skus/{sku_id}/availabilities", params={"country": "US"})
        items = page.get("items", [])
        if not items:
            raise FatalError(f"no availability for {product_id}:{sku_id}")
        return str(items[0]["id"])

    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str) -> OrderResult:
        parts = product_id.split(":")
        if len(parts) == 2:
            parts.append(self._availability(*parts))
        if len(parts) != 3:
            raise ValidationError(f"catalog item {product_id!r} must be productId:skuId[:availabilityId]")
        line = {"id": 0, "catalogItemId": ":".join(parts), "quantity": int(quantity),
                "billingCycle": TERM_TO_CYCLE.get(billing_term, "monthly"),
                "termDuration": commitment_term or billing_term}
        cart = self.http.post_json(f"v1/customers/{company_id}/carts", {"lineItems": [line]},
                                   headers={"MS-RequestId": request_id(idempotency_key, "cart")})
        result = self.http.post_json(f"v1/customers/{company_id}/carts/{cart['id']}/checkout", None,
                                     headers={"MS-RequestId": request_id(idempotency_key, "checkout")})
        errors = result.get("orderErrors") or []
        orders = result.get("orders") or []
        if not orders:
            detail = "; ".join(str(e.get("description") or e) for e in errors) or "no order returned"
            raise FatalError(f"checkout failed: {detail}")
        order = orders[0]
        subs = tuple(li["subscriptionId"] for li in order.get("lineItems", []) if li.get("subscriptionId"))
        return OrderResult(order_id=order["id"], status=str(order.get("status") or ""), subscription_ids=subs)

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        return self._patch(company_id, subscription_id, {"quantity": int(quantity)}, idempotency_key)

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        return self._patch(company_id, subscription_id, {"status": "deleted"}, idempotency_key)

    def _patch(self, company_id: str | None, subscription_id: str, body: dict[str, Any], key: str) -> Subscription:
        if not company_id:
            raise ValidationError("Partner Center changes a subscription under its customer: pass company_id")
        data = self.http.request("PATCH", f"v1/customers/{company_id}/subscriptions/{subscription_id}", json=body,
                                 headers={"MS-RequestId": request_id(key)}).json()
        return self._subscription(company_id, data)

    def mca_template_id(self) -> str:
        if self._mca_template is None:
            page = self.http.get_json("v1/agreements", params={"agreementType": "MicrosoftCustomerAgreement"})
            items = page.get("items", [])
            if not items:
                raise FatalError("Partner Center returned no Microsoft Customer Agreement template")
            self._mca_template = str(items[0]["templateId"])
        return self._mca_template

    def attest_customer_agreement(self, company_id: str, contact: dict[str, str], date_agreed: datetime,
                                  idempotency_key: str) -> dict[str, Any]:
        body = {"primaryContact": {k: v for k, v in contact.items() if v}, "templateId": self.mca_template_id(),
                "dateAgreed": date_agreed.strftime("%Y-%m-%dT%H:%M:%SZ"), "type": "MicrosoftCustomerAgreement"}
        return self.http.post_json(f"v1/customers/{company_id}/agreements", body,
                                   headers={"MS-RequestId": request_id(idempotency_key, "mca")})

    def list_agreements(self, company_id: str) -> list[dict[str, Any]]:
        page = self.http.get_json(f"v1/customers/{company_id}/agreements",
                                  params={"agreementType": "MicrosoftCustomerAgreement"})
        return list(page.get("items", []))

