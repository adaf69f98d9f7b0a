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

from dataverse.stores import subscriptions
from dataverse.stores.subscriptions import Col as S
from dataverse.tables import SubscriptionKind, SubscriptionStatus
from partnercenter.models import AZURE_PLAN_PRODUCT_ID

LEGACY_AZURE_OFFER_ID = "MS-AZR-0145P"
_INACTIVE = (int(SubscriptionStatus.CANCELLED), int(SubscriptionStatus.EXPIRED))


def is_azure_plan(product_id: str | None) -> bool:
    return (product_id or "").upper().split(":")[0] == AZURE_PLAN_PRODUCT_ID


def is_legacy_azure(offer_or_product_id: str | None) -> bool:
    return (offer_or_product_id or "").upper().startswith(LEGACY_AZURE_OFFER_ID)


def classify(sub: Any) -> tuple[int, bool]:
    """(subscription kind, needs transition) for a provider subscription DTO."""
    ids = [getattr(sub, "product_id", ""), getattr(sub, "sku", ""), getattr(sub, "offer_id", "")]
    if any(is_legacy_azure(i) for i in ids):
        return int(SubscriptionKind.LEGACY_AZURE), True
    if any(is_azure_plan(i) for i in ids):
        return int(SubscriptionKind.AZURE_PLAN), False
    if getattr(sub, "billing_term", "") == "OneTime":
        return int(SubscriptionKind.ONE_TIME), False
    return int(SubscriptionKind.LICENSE), False


def second_plan_refusal(existing: Iterable[Mapping[str, Any]], *, ordering_sub_id: str | None = None) -> str | None:
    """Why a new Azure plan order must be refused (the customer already has an active one), or None.
    `existing`: the customer's subscription rows (kind, status, id, provider id)."""
    for row in existing:
        if row.get(S.ID) == ordering_sub_id:
            continue
        bought = bool(row.get(S.PROVIDER_SUBSCRIPTION_ID)) or row.get(S.STATUS) != SubscriptionStatus.PENDING
        # Another rep's request that was never bought (refused, or not sent yet) is no plan: Partner
        # Center refuses the second checkout if both are sent.
        if row.get(S.KIND) == SubscriptionKind.AZURE_PLAN and row.get(S.STATUS) not in _INACTIVE and bought:
            ref = row.get(S.PROVIDER_SUBSCRIPTION_ID) or row.get(S.ID)
            return (f"Azure plan refused: the customer already has an Azure plan ({ref}); "
                    f"add Azure subscriptions to it instead of buying a second plan")
    return None


def plan_refusal_for(dv: Any, provider_account_id: str, ordering_sub_id: str | None = None) -> str | None:
    return second_plan_refusal(subscriptions.azure_plans(dv, provider_account_id), ordering_sub_id=ordering_sub_id)


def entitlement_rows(plan_row: Mapping[str, Any], entitlements: Iterable[Mapping[str, Any]],
                     provider_account_id: str) -> list[dict[str, Any]]:
    """Subscription rows (kind AzureEntitlement) for the Azure subscriptions under a plan.
    Entitlements carry `id` (the Azure subscription id), `friendlyName` and `status`."""
    rows = []
    for ent in entitlements:
        status = str(ent.get("status") or "active").lower()
        rows.append({
            S.PROVIDER_SUBSCRIPTION_ID: str(ent["id"]),
            S.NAME: str(ent.get("friendlyName") or ent["id"])[:100],
            S.KIND: int(SubscriptionKind.AZURE_ENTITLEMENT),
            S.STATUS: int(SubscriptionStatus.ACTIVE if status == "active" else SubscriptionStatus.SUSPENDED),
            S.QUANTITY: 1,
            S.PROVIDER: plan_row.get(S.PROVIDER),
            S.PARENT_BIND: subscriptions.bind_by_id(plan_row[S.ID]),
            S.PROVIDER_ACCOUNT_BIND: subscriptions.bind_provider_account(provider_account_id),
        })
    return rows
