"""Partner Center behind the distributor port (distributors.base.DistributorAdapter), for the sync
and provisioning engine, plus the Partner Center-only calls it needs (price sheet, MCA, Azure
entitlements).

A thin mapping over partnercenter.client.PartnerCenterClient: that client is the one place that
speaks Partner Center HTTP (paths, paging, MS-RequestId / MS-CorrelationId, retries, the full
Subscription resource on PATCH). This module only turns the caller's idempotency key into the
client's request ids and the client's models into the port's DTOs.

Idempotency: a purchase is `PartnerCenterClient.purchase(..., idempotency_key=key)` (cart and
checkout ids derived from the key); a seat change or cancel sends `request_id_for(key)` as
MS-RequestId; an MCA attestation `request_id_for(key, "mca")`. Every retry or redelivery of the
same change log therefore replays Partner Center's first answer instead of buying twice.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from billing.models import Provider
from distributors.base import (
    AdapterBase,
    Company,
    Invoice,
    InvoiceLine,
    OrderContext,
    OrderResult,
    Price,
    Product,
    ProviderRefused,
    Subscription,
)
from partnercenter import models as pcm
from partnercenter.client import PartnerCenterClient, request_id_for
from partnercenter.errors import decode_error
from shared.config import Settings
from shared.errors import FatalError, ValidationError
from shared.http import HttpClient, RetryPolicy, TokenProvider

STATUS_LABELS = {"active": "Active", "suspended": "Suspended", "deleted": "Cancelled", "expired": "Expired",
                 "pending": "Pending", "disabled": "Suspended"}
CYCLE_TO_TERM = {"monthly": "P1M", "annual": "P1Y", "triennial": "P3Y", "none": "P1M", "onetime": "OneTime"}
TERM_TO_CYCLE = {"P1M": "monthly", "P1Y": "annual", "P3Y": "triennial", "OneTime": "onetime"}
PAGE_SIZE = 500
CATALOG_COUNTRY = "US"


@dataclass(frozen=True)
class PcSubscription(Subscription):
    """The port's Subscription plus what only Partner Center tells."""

    cancellation_allowed_until: datetime | None = None


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def to_subscription(company_id: str, sub: pcm.Subscription) -> PcSubscription:
    """A Partner Center subscription as the port's DTO (status labels and term codes of the subscription table)."""
    status = str(sub.status or "").lower()
    return PcSubscription(
        id=sub.id, company_id=company_id, product_id=sub.offer_id, quantity=sub.quantity,
        status="Trial" if sub.is_trial and status == "active" else STATUS_LABELS.get(status, "Pending"),
        billing_term=CYCLE_TO_TERM.get((sub.billing_cycle or "monthly").lower(), "P1M"),
        commitment_term=sub.term_duration or None,
        # The seats began at the earlier of the two: effectiveStartDate back-dates a migrated
        # subscription, but moves to the current term's start when a monthly term renews, and
        # billing onboarding must not read a renewal as a new purchase.
        start_date=_day(min((d for d in (sub.effective_start_date, sub.creation_date) if d is not None),
                            default=None)),
        commitment_end_date=_day(sub.commitment_end_date),
        product_name=sub.offer_name or sub.friendly_name, sku=sub.sku_id, order_id=sub.order_id,
        # Absent means "not told", which the sync must not read as "turned off".
        auto_renew=sub.raw.get("autoRenewEnabled"), offer_id=sub.offer_id, availability_id=sub.availability_id,
        cancellation_allowed_until=sub.cancellation_allowed_until,
    )


class PartnerCenterAdapter(AdapterBase):
    provider = Provider.PARTNER_CENTER
    # MS-RequestId makes a repeated POST with the same key replay the first result.
    idempotent_orders = True
    # Partner Center addresses a subscription under its customer: the engine passes company_id.
    needs_company = True
    sets_auto_renew = True
    schedules_next_term = True
    transitions = True
    lists_azure_entitlements = True
    attests_agreements = True

    def __init__(self, base_url: str | None = None, token_provider: TokenProvider | None = None, *,
                 retry: RetryPolicy | None = None, timeout: float = 60.0, http: HttpClient | None = None,
                 client: PartnerCenterClient | None = None) -> None:
        if client is None:
            if http is None:
                if base_url is None:
                    raise ValidationError("PartnerCenterAdapter needs a base_url, an HttpClient or a client")
                http = HttpClient(base_url, token_provider=token_provider, error_decoder=decode_error, retry=retry,
                                  timeout=timeout, default_headers={"Accept": "application/json"},
                                  service="partnercenter")
            # The sync never calls Graph (recon does); the client still wants one, so it shares this one.
            client = PartnerCenterClient(http, http)
        self.client = client
        self.http = client.pc  # request_count for tests and the benchmark
        self._mca_template: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> PartnerCenterAdapter:
        return cls(client=PartnerCenterClient.from_settings(settings))

    # ---- reads -------------------------------------------------------------------------------

    def list_companies(self) -> Iterator[Company]:
        for customer in self.client.iter_customers(PAGE_SIZE):
            yield Company(id=customer.id, name=customer.company_name or customer.id, domain=customer.domain or "",
                          country=customer.country or "")

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]:
        if company_id is None:
            raise ValidationError("Partner Center lists subscriptions per customer: pass company_id")
        for sub in self.client.list_subscriptions(company_id):
            yield to_subscription(company_id, sub)

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription:
        if company_id is None:
            raise ValidationError("Partner Center reads a subscription under its customer: pass company_id")
        return to_subscription(company_id, self.client.get_subscription(company_id, subscription_id))

    def list_azure_entitlements(self, company_id: str, plan_subscription_id: str) -> list[dict[str, Any]]:
        """Wire dicts (`id`, `friendlyName`, `status`), the shape sync.azure_plan.entitlement_rows reads."""
        return [e.raw for e in self.client.list_azure_entitlements(company_id, plan_subscription_id)]

    def get_price_sheet(self, market: str, view: str = "updatedlicensebased") -> list[dict[str, str]]:
        """The market's license price sheet as CSV rows (column names as Microsoft publishes them)."""
        with tempfile.TemporaryDirectory(prefix="cspb-pricesheet-") as tmp:
            path = self.client.download_price_sheet(market, Path(tmp) / f"{market}.csv", view=view)
            with open(path, encoding="utf-8-sig", newline="") as fh:
                return list(csv.DictReader(fh))

    def iter_price_sheet(self, market: str, *, view: str = "updatedlicensebased", month: str | None = None,
                         ) -> Iterator[dict[str, str]]:
        """The market's license price sheet, row by row: the download streams to a temporary file
        and the rows are read from it one at a time, so a 42 MB sheet never sits in memory.
        `month` (YYYYMM) asks for that month's sheet (timeline=history) instead of the current one."""
        with tempfile.TemporaryDirectory(prefix="cspb-pricesheet-") as tmp:
            path = self.client.download_price_sheet(market, Path(tmp) / f"{market}.csv", view=view,
                                                    timeline="history" if month else "current", month=month)
            with open(path, encoding="utf-8-sig", newline="") as fh:
                yield from csv.DictReader(fh)

    def list_products(self) -> Iterator[Product]:
        for item in self.client.list_products(CATALOG_COUNTRY, target_view="OnlineServices"):
            yield Product(id=item.id, name=item.title or item.id, vendor="Microsoft",
                          description=str(item.raw.get("description") or ""))

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
        found = self.client.list_availabilities(product_id, sku_id, CATALOG_COUNTRY)
        if not found:
            raise FatalError(f"no availability for {product_id}:{sku_id}")
        return found[0].id

    def place_order(self, company_id: str, product_id: str, quantity: int, billing_term: str,
                    commitment_term: str | None, idempotency_key: str, *,
                    context: OrderContext | None = None) -> OrderResult:
        # `context` is not asked for: Partner Center knows its customer and the MCA is attested apart.
        parts = product_id.split(":")
        if len(parts) == 2:
            parts.append(self._availability(*parts))
        if len(parts) != 3:
            raise ValidationError(f"catalog item {product_id!r} must be productId:skuId[:availabilityId]")
        plan = parts[0].upper() == pcm.AZURE_PLAN_PRODUCT_ID
        if plan:
            # One plan, no commitment: usage is billed monthly in arrears (create-azure-plan).
            item = pcm.CartLineItem(catalog_item_id=":".join(parts), quantity=1, term_duration="",
                                    billing_cycle="monthly")
        else:
            item = pcm.CartLineItem(catalog_item_id=":".join(parts), quantity=int(quantity),
                                    term_duration=commitment_term or billing_term,
                                    billing_cycle=TERM_TO_CYCLE.get(billing_term, "monthly"))
        try:
            result = self.client.purchase(company_id, [item], idempotency_key=idempotency_key)
        except FatalError as exc:
            if plan and exc.code == pcm.ASSET_LIMIT_CODE:
                raise ProviderRefused(
                    f"Partner Center refused the Azure plan ({exc.code}: {exc.message}): the customer already has "
                    "an Azure plan at Partner Center. Run the subscription sync to bring it into Dynamics, then add "
                    "Azure subscriptions to that plan instead of buying another", code=exc.code) from exc
            raise
        if not result.orders:
            detail = "; ".join(str(e.get("description") or e) for e in result.order_errors) or "no order returned"
            raise FatalError(f"checkout failed: {detail}")
        order = result.orders[0]
        subs = tuple(li.subscription_id for li in order.line_items if li.subscription_id)
        return OrderResult(order_id=order.id, status=order.status, subscription_ids=subs)

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription:
        customer = self._company(company_id)
        return to_subscription(customer, self.client.set_quantity(customer, subscription_id, int(quantity),
                                                                  request_id=request_id_for(idempotency_key)))

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription:
        customer = self._company(company_id)
        return to_subscription(customer, self.client.cancel_subscription(
            customer, subscription_id, request_id=request_id_for(idempotency_key)))

    def set_auto_renew(self, subscription_id: str, on: bool, idempotency_key: str, *,
                       company_id: str | None = None) -> Subscription:
        customer = self._company(company_id)
        return to_subscription(customer, self.client.set_auto_renew(
            customer, subscription_id, on, request_id=request_id_for(idempotency_key, "autorenew")))

    def schedule_next_term(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                           company_id: str | None = None, product: dict[str, str] | None = None,
                           custom_term_end: str | None = None) -> Subscription:
        """The subscription's scheduledNextTermInstructions: what it renews into (same product,
        term and billing cycle unless `product` says otherwise), applied by Microsoft at renewal.
        Needs autoRenewEnabled (create-scheduled-changes); a mid-term change deletes it."""
        customer = self._company(company_id)
        current = self.client.get_subscription(customer, subscription_id)
        raw = current.raw
        product_id, sku_id, availability_id = (str(raw.get("offerId") or "").split(":") + ["", "", ""])[:3]
        instructions: dict[str, Any] = {
            "product": {"productId": product_id, "skuId": sku_id, "availabilityId": availability_id,
                        "billingCycle": raw.get("billingCycle") or "monthly",
                        "termDuration": raw.get("termDuration") or "P1Y", **(product or {})},
            "quantity": int(quantity)}
        if custom_term_end:
            instructions["customTermEndDate"] = custom_term_end
        return to_subscription(customer, self.client.update_subscription(
            customer, subscription_id, {"scheduledNextTermInstructions": instructions}, current=current,
            request_id=request_id_for(idempotency_key, "nextterm")))

    def transition(self, subscription_id: str, to_catalog_item: str, quantity: int, term: str, billing_term: str,
                   idempotency_key: str, *, company_id: str | None = None) -> dict[str, Any]:
        """An immediate transition (upgrade, term or billing-cycle conversion, trial to paid): the
        target must be eligible now (transitionEligibilities?eligibilityType=immediate), else a
        FatalError names Partner Center's reasons. Returns the Transition (toSubscriptionId...)."""
        customer = self._company(company_id)
        eligible = self.client.transition_eligibilities(customer, subscription_id, "immediate")
        target = next((i for i in eligible if i.get("catalogItemId", "").lower() == to_catalog_item.lower()), None)
        verdicts = (target or {}).get("eligibilities") or []
        ok = next((e for e in verdicts if e.get("isEligible")), None)
        if ok is None:
            why = "; ".join(str(err.get("description")) for e in verdicts for err in e.get("errors") or []) or \
                f"{to_catalog_item} is not among the subscription's transition targets"
            raise FatalError(f"Partner Center does not allow this transition now: {why}")
        body: dict[str, Any] = {"toCatalogItemId": target["catalogItemId"] if target else to_catalog_item,
                                "quantity": int(quantity), "transitionType": ok.get("transitionType")
                                or "transition_with_license_transfer"}
        if term:
            body["termDuration"] = term
        if billing_term:
            body["billingCycle"] = TERM_TO_CYCLE.get(billing_term, "monthly")
        return self.client.create_transition(customer, subscription_id, body,
                                             request_id=request_id_for(idempotency_key, "transition"))

    @staticmethod
    def _company(company_id: str | None) -> str:
        if not company_id:
            raise ValidationError("Partner Center changes a subscription under its customer: pass company_id")
        return company_id

    def mca_template_id(self) -> str:
        if self._mca_template is None:
            self._mca_template = self.client.get_mca_template_id()
        return self._mca_template

    def attest_customer_agreement(self, company_id: str, contact: dict[str, str], date_agreed: datetime,
                                  idempotency_key: str) -> dict[str, Any]:
        agreement = self.client.create_agreement(
            company_id, first_name=contact.get("firstName", ""), last_name=contact.get("lastName", ""),
            email=contact.get("email", ""), phone=contact.get("phoneNumber", ""), date_agreed=date_agreed,
            template_id=self.mca_template_id(), request_id=request_id_for(idempotency_key, "mca"))
        return agreement.raw

    def list_agreements(self, company_id: str) -> list[dict[str, Any]]:
        return [a.raw for a in self.client.list_agreements(company_id)]
