"""A sales rep edits a subscription in Dynamics (seats or status): turn the edit into a change log.

The webhook on cspb_subscription Update is a hint; this re-reads the subscription and compares
it with the last *effective* quantity (the newest change log that was not Refused or Failed).
Our own writes (provisioning write-back, subscription sync) always leave a matching change log,
so they compare equal and create nothing. A refused change puts the subscription back to the
effective quantity, so Dynamics shows what the customer really has.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from billing.provisioning_rules import change_type_for
from dataverse.client import DataverseClient
from dataverse.tables import ChangeOrigin, ChangeType, EntitySet, ProvisioningStatus, SubscriptionStatus
from sync.records import bind, iso

_EFFECTIVE = (ProvisioningStatus.AWAITING, ProvisioningStatus.PROVISIONED, ProvisioningStatus.NOT_APPLICABLE)


def last_effective(dv: DataverseClient, subscription_id: str) -> dict[str, Any] | None:
    statuses = " or ".join(f"cspb_provisioningstatus eq {int(s)}" for s in _EFFECTIVE)
    rows = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                        select=["cspb_newquantity", "cspb_changetype", "createdon", "versionnumber",
                                "cspb_provisioningstatus"],
                        filter=f"_cspb_subscription_value eq {subscription_id} and ({statuses})"))
    # createdon has one-second resolution; the row version breaks ties between logs of the same second.
    return max(rows, key=lambda r: (str(r.get("createdon") or ""), int(r.get("versionnumber") or 0)), default=None)


def record_rep_change(dv: DataverseClient, subscription_id: str, event_key: str, *, requested_by: str = "sales rep",
                      now: datetime | None = None) -> str | None:
    """Create the change log a subscription edit implies (idempotent per webhook event); its id, or None."""
    now = now or datetime.now(UTC)
    sub = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id,
                 select=["cspb_quantity", "cspb_status", "cspb_providersubscriptionid", "cspb_unitprice"])
    if not sub.get("cspb_providersubscriptionid"):
        return None  # not bought yet: the New change log drives the purchase
    effective = last_effective(dv, subscription_id)
    if effective is None:
        return None  # nothing to compare with; the next subscription sync records the baseline
    old_q, new_q = effective.get("cspb_newquantity"), sub.get("cspb_quantity")
    cancelled = sub.get("cspb_status") == SubscriptionStatus.CANCELLED
    if cancelled and effective.get("cspb_changetype") != ChangeType.CANCEL:
        kind = ChangeType.CANCEL
        new_q = old_q
    elif new_q is not None and old_q is not None and new_q != old_q:
        kind = change_type_for(int(old_q), int(new_q))
    else:
        return None
    result = dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": f"rep|{event_key}"[:200]}, {
        "cspb_name": f"{kind.name.title()} by {requested_by}"[:100], "cspb_changetype": int(kind),
        "cspb_oldquantity": old_q, "cspb_newquantity": new_q, "cspb_newprice": sub.get("cspb_unitprice"),
        "cspb_effectivedate": iso(now), "cspb_requestedby": requested_by, "cspb_origin": int(ChangeOrigin.SALES_REP),
        "cspb_provisioningstatus": int(ProvisioningStatus.AWAITING), "cspb_isdrift": False, "cspb_archived": False,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, subscription_id),
    })
    return result.id


def revert_refused(dv: DataverseClient, subscription_id: str, change: dict[str, Any]) -> None:
    """After a refusal, show the quantity/status the customer still has."""
    changes: dict[str, Any] = {}
    if change.get("cspb_changetype") == ChangeType.CANCEL:
        changes["cspb_status"] = int(SubscriptionStatus.ACTIVE)
    elif change.get("cspb_oldquantity") is not None:
        changes["cspb_quantity"] = change["cspb_oldquantity"]
    if changes:
        dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, changes)
