"""Azure plan rules: one plan per customer, Azure subscriptions are entitlements under it, and
legacy Microsoft Azure (MS-AZR-0145P) subscriptions are flagged for transition.

The Azure plan is product DZH318Z0BPS6 in Partner Center's catalog; a customer has at most one
(learn.microsoft.com/partner-center/developer/purchase-azure-plan ... "a customer can have only
one Azure plan"). Azure subscriptions created under it are entitlements
(GET /v1/customers/{id}/subscriptions/{planId}/azureEntitlements).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores import subscriptions
from dataverse.stores.subscriptions import AzurePlan, Entitlement
from dataverse.tables import SubscriptionKind, SubscriptionStatus
from distributors.base import Subscription
from partnercenter.models import AZURE_PLAN_PRODUCT_ID

LEGACY_AZURE_OFFER_ID = "MS-AZR-0145P"
_INACTIVE = (int(SubscriptionStatus.CANCELLED), int(SubscriptionStatus.EXPIRED))


def is_azure_plan(product_id: str | None) -> bool:
    return (product_id or "").upper().split(":")[0] == AZURE_PLAN_PRODUCT_ID


def is_legacy_azure(offer_or_product_id: str | None) -> bool:
    return (offer_or_product_id or "").upper().startswith(LEGACY_AZURE_OFFER_ID)


def classify(sub: Subscription) -> tuple[int, bool]:
    """(subscription kind, needs transition) for a provider subscription."""
    ids = [sub.product_id, sub.sku, sub.offer_id]
    if any(is_legacy_azure(i) for i in ids):
        return int(SubscriptionKind.LEGACY_AZURE), True
    if any(is_azure_plan(i) for i in ids):
        return int(SubscriptionKind.AZURE_PLAN), False
    if sub.billing_term == "OneTime":
        return int(SubscriptionKind.ONE_TIME), False
    return int(SubscriptionKind.LICENSE), False


def second_plan_refusal(existing: Iterable[AzurePlan], *, ordering_sub_id: str | None = None) -> str | None:
    """Why a new Azure plan order must be refused (the customer already has an active one), or None.
    `existing`: the customer's Azure plan subscriptions."""
    for plan in existing:
        if plan.id == ordering_sub_id:
            continue
        bought = bool(plan.provider_subscription_id) or plan.status != SubscriptionStatus.PENDING
        # Another rep's request that was never bought (refused, or not sent yet) is no plan: Partner
        # Center refuses the second checkout if both are sent.
        if plan.kind == SubscriptionKind.AZURE_PLAN and plan.status not in _INACTIVE and bought:
            ref = plan.provider_subscription_id or plan.id
            return (f"Azure plan refused: the customer already has an Azure plan ({ref}); "
                    f"add Azure subscriptions to it instead of buying a second plan")
    return None


def plan_refusal_for(dv: DataverseClient, provider_account_id: str, ordering_sub_id: str | None = None) -> str | None:
    return second_plan_refusal(subscriptions.azure_plans(dv, provider_account_id), ordering_sub_id=ordering_sub_id)


def entitlement_rows(plan_provider_id: str, plan_id: str | None, provider: int,
                     entitlements: Iterable[Mapping[str, Any]], provider_account_id: str) -> list[Entitlement]:
    """The Azure subscriptions under a plan (`plan_id` None: a plan found this run, not written yet).
    Entitlements carry `id` (the Azure subscription id), `friendlyName` and `status`."""
    out = []
    for ent in entitlements:
        status = str(ent.get("status") or "active").lower()
        out.append(Entitlement(
            provider_subscription_id=str(ent["id"]), name=str(ent.get("friendlyName") or ent["id"])[:100],
            status=int(SubscriptionStatus.ACTIVE if status == "active" else SubscriptionStatus.SUSPENDED),
            provider=provider, provider_account_id=provider_account_id, plan_provider_id=plan_provider_id,
            plan_id=plan_id))
    return out
