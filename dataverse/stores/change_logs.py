"""cspb_licensechangelog rows as sync and provisioning read and write them: the changes a rep, the
portal or the provider sync record (keyed by cspb_changekey, so a retried write finds its row), their
provisioning state, and the write-back after the provider call. Billing reads them through map_billing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import bind
from dataverse.tables import EntitySet
from shared.dates import iso


@dataclass(frozen=True)
class EffectiveChange:
    """The newest change log of a subscription in one of the given provisioning states."""

    change_type: int | None
    new_quantity: int | None


@dataclass(frozen=True)
class NewChangeLog:
    """A change log to record; upserted on `key`."""

    key: str
    name: str
    subscription_id: str
    change_type: int
    old_quantity: int | None
    new_quantity: int | None
    effective: datetime
    requested_by: str
    origin: int
    provisioning_status: int
    new_price: Decimal | int | None = None
    is_drift: bool = False
    archived: bool = False


def last_effective(dv: DataverseClient, subscription_id: str, statuses: Sequence[int]) -> EffectiveChange | None:
    where = " or ".join(f"cspb_provisioningstatus eq {int(s)}" for s in statuses)
    rows = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                        select=["cspb_newquantity", "cspb_changetype", "createdon", "versionnumber",
                                "cspb_provisioningstatus"],
                        filter=f"_cspb_subscription_value eq {subscription_id} and ({where})"))
    # createdon has one-second resolution; the row version breaks ties between logs of the same second.
    newest = max(rows, key=lambda r: (str(r.get("createdon") or ""), int(r.get("versionnumber") or 0)), default=None)
    if newest is None:
        return None
    return EffectiveChange(newest.get("cspb_changetype"), newest.get("cspb_newquantity"))


def record(dv: DataverseClient, log: NewChangeLog) -> str:
    """Upsert the change log on its key; its id."""
    row: dict[str, Any] = {
        "cspb_name": log.name[:100], "cspb_changetype": int(log.change_type),
        "cspb_oldquantity": log.old_quantity, "cspb_newquantity": log.new_quantity, "cspb_newprice": log.new_price,
        "cspb_effectivedate": iso(log.effective), "cspb_requestedby": log.requested_by,
        "cspb_origin": int(log.origin), "cspb_provisioningstatus": int(log.provisioning_status),
        "cspb_isdrift": log.is_drift, "cspb_archived": log.archived,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, log.subscription_id),
    }
    return dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": log.key[:200]}, row).id
