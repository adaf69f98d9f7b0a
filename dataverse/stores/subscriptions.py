"""cspb_subscription rows as sync and provisioning read and write them (billing reads them through
map_billing): the seats and status a rep edits, the provider's id, the Azure plan rows of a customer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


@dataclass(frozen=True)
class Seats:
    """What a rep edits on a subscription, and whether the provider has it yet."""

    quantity: int | None
    status: int | None
    provider_subscription_id: str | None
    unit_price: Decimal | int | None  # as Dataverse holds it: copied onto the change log unchanged


def seats(dv: DataverseClient, subscription_id: str) -> Seats:
    row = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id,
                 select=["cspb_quantity", "cspb_status", "cspb_providersubscriptionid", "cspb_unitprice"])
    return Seats(row.get("cspb_quantity"), row.get("cspb_status"), row.get("cspb_providersubscriptionid"),
                 row.get("cspb_unitprice"))


def set_seats(dv: DataverseClient, subscription_id: str, *, quantity: int | None = None,
              status: int | None = None) -> None:
    """Put the quantity and/or status back (after a refusal); nothing when neither is given."""
    changes: dict[str, Any] = {}
    if status is not None:
        changes["cspb_status"] = int(status)
    if quantity is not None:
        changes["cspb_quantity"] = quantity
    if changes:
        dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, changes)
