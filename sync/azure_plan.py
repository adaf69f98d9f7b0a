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

from dataverse.tables import EntitySet, SubscriptionKind, SubscriptionStatus
from partnercenter.models import AZURE_PLAN_PRODUCT_ID
from sync.records import bind

LEGACY_AZURE_OFFER_ID = "MS-AZR-0145P"
_INACTIVE = (int(SubscriptionStatus.CANCELLED), int(SubscriptionStatus.EXPIRED))


def is_azure_plan(product_id: str | None) -> bool:
    return (product_id or "").upper().split(":")[0] == AZURE_PLAN_PRODUCT_ID


def is_legacy_azure(offer_or_product_id: str | None) -> bool:
    return (offer_or_product_id or "").upper().startswith(LEGACY_AZURE_OFFER_ID)


def classify(sub: Any) -> tuple[int, bool]:
    """(cspb_kind, cspb_needstransition) for a provider subscription DTO."""
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
    `existing`: the customer's cspb_subscription rows (cspb_kind, cspb_status, cspb_subscriptionid)."""
    for row in existing:
        if row.get("cspb_subscriptionid") == ordering_sub_id:
            continue
        bought = bool(row.get("cspb_providersubscriptionid")) or row.get("cspb_status") != SubscriptionStatus.PENDING
        # Another rep's request that was never bought (refused, or not sent yet) is no plan: Partner
        # Center refuses the second checkout if both are sent.
        if row.get("cspb_kind") == SubscriptionKind.AZURE_PLAN and row.get("cspb_status") not in _INACTIVE and bought:
            ref = row.get("cspb_providersubscriptionid") or row.get("cspb_subscriptionid")
            return (f"Azure plan refused: the customer already has an Azure plan ({ref}); "
                    f"add Azure subscriptions to it instead of buying a second plan")
    return None


def plan_refusal_for(dv: Any, provider_account_id: str, ordering_sub_id: str | None = None) -> str | None:
    rows = dv.list(EntitySet.SUBSCRIPTIONS,
                   select=["cspb_subscriptionid", "cspb_kind", "cspb_status", "cspb_providersubscriptionid"],
                   filter=f"_cspb_provideraccount_value eq {provider_account_id} and "
                          f"cspb_kind eq {int(SubscriptionKind.AZURE_PLAN)}")
    return second_plan_refusal(rows, ordering_sub_id=ordering_sub_id)


def entitlement_rows(plan_row: Mapping[str, Any], entitlements: Iterable[Mapping[str, Any]],
                     provider_account_id: str) -> list[dict[str, Any]]:
    """cspb_subscription rows (kind AzureEntitlement) for the Azure subscriptions under a plan.
    Entitlements carry `id` (the Azure subscription id), `friendlyName` and `status`."""
    rows = []
    for ent in entitlements:
        status = str(ent.get("status") or "active").lower()
        rows.append({
            "cspb_providersubscriptionid": str(ent["id"]),
            "cspb_name": str(ent.get("friendlyName") or ent["id"])[:100],
            "cspb_kind": int(SubscriptionKind.AZURE_ENTITLEMENT),
            "cspb_status": int(SubscriptionStatus.ACTIVE if status == "active" else SubscriptionStatus.SUSPENDED),
            "cspb_quantity": 1,
            "cspb_provider": plan_row.get("cspb_provider"),
            "cspb_parentsubscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, plan_row["cspb_subscriptionid"]),
            "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, provider_account_id),
        })
    return rows
