"""cspb_subscription as a sales rep works with it in Dynamics: the active licenses whose seats one may
change, and a license entered by hand for a tenant before the provider has it (the portal's purchase is
portal_subscriptions.create_pending_subscription; the sync's and the provisioning worker's views are in
subscriptions.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from dataverse.client import DataverseClient
from dataverse.stores._rows import bind
from dataverse.tables import EntitySet, SubscriptionKind, SubscriptionStatus


@dataclass(frozen=True)
class ActiveLicense:
    id: str
    name: str | None
    quantity: int
    provider_account_id: str | None
    provider_subscription_id: str | None


def active_licenses(dv: DataverseClient) -> list[ActiveLicense]:
    """Active license subscriptions, by provider subscription id."""
    rows = dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_subscriptionid", "cspb_name", "cspb_quantity",
                                                    "_cspb_provideraccount_value", "cspb_providersubscriptionid"],
                   filter=f"cspb_status eq {int(SubscriptionStatus.ACTIVE)} and "
                          f"cspb_kind eq {int(SubscriptionKind.LICENSE)}", orderby="cspb_providersubscriptionid")
    return [ActiveLicense(str(r["cspb_subscriptionid"]), r.get("cspb_name"), int(r.get("cspb_quantity") or 0),
                          r.get("_cspb_provideraccount_value"), r.get("cspb_providersubscriptionid")) for r in rows]


@dataclass(frozen=True)
class PendingOrder:
    """A license for a tenant, Pending and without seats: the New change log that orders it carries them."""

    name: str
    provider: int
    provider_account_id: str
    product_id: str
    sku_id: str | None
    term: str
    billing_frequency: str
    auto_renew: bool
    currency: str
    unit_cost: Decimal | None


def create_pending(dv: DataverseClient, order: PendingOrder) -> str:
    """The Pending subscription's id."""
    return dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": order.name[:100], "cspb_provider": int(order.provider),
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, order.provider_account_id),
        "cspb_productid": order.product_id, "cspb_skuid": order.sku_id, "cspb_quantity": 0, "cspb_term": order.term,
        "cspb_billingfrequency": order.billing_frequency, "cspb_status": int(SubscriptionStatus.PENDING),
        "cspb_kind": int(SubscriptionKind.LICENSE), "cspb_autorenew": order.auto_renew,
        "cspb_currencycode": order.currency, "cspb_unitcost": None if order.unit_cost is None else str(order.unit_cost),
        # The alternate key needs a value until the provider assigns the real id (as the portal does).
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
