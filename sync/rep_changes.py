"""A sales rep edits a subscription in Dynamics (seats or status): turn the edit into a change log.

The webhook on a subscription Update is a hint; this re-reads the subscription and compares
it with the last *effective* quantity (the newest change log that was not Refused or Failed).
Our own writes (provisioning write-back, subscription sync) always leave a matching change log,
so they compare equal and create nothing. A refused change puts the subscription back to the
effective quantity, so Dynamics shows what the customer really has.
"""

from __future__ import annotations

from datetime import UTC, datetime

from billing.provisioning_rules import change_type_for
from dataverse.client import DataverseClient
from dataverse.stores import change_logs, subscriptions
from dataverse.stores.change_logs import EffectiveChange, NewChangeLog
from dataverse.tables import ChangeOrigin, ChangeType, ProvisioningStatus, SubscriptionStatus

_EFFECTIVE = (ProvisioningStatus.AWAITING, ProvisioningStatus.PROVISIONED, ProvisioningStatus.NOT_APPLICABLE)


def last_effective(dv: DataverseClient, subscription_id: str) -> EffectiveChange | None:
    return change_logs.last_effective(dv, subscription_id, _EFFECTIVE)


def record_rep_change(dv: DataverseClient, subscription_id: str, event_key: str, *, requested_by: str = "sales rep",
                      now: datetime | None = None) -> str | None:
    """Create the change log a subscription edit implies (idempotent per webhook event); its id, or None."""
    now = now or datetime.now(UTC)
    sub = subscriptions.seats(dv, subscription_id)
    if not sub.provider_subscription_id:
        return None  # not bought yet: the New change log drives the purchase
    effective = last_effective(dv, subscription_id)
    if effective is None:
        return None  # nothing to compare with; the next subscription sync records the baseline
    old_q, new_q = effective.new_quantity, sub.quantity
    cancelled = sub.status == SubscriptionStatus.CANCELLED
    if cancelled and effective.change_type != ChangeType.CANCEL:
        kind = ChangeType.CANCEL
        new_q = old_q
    elif new_q is not None and old_q is not None and new_q != old_q:
        kind = change_type_for(int(old_q), int(new_q))
    else:
        return None
    return change_logs.record(dv, NewChangeLog(
        key=f"rep|{event_key}", name=f"{kind.name.title()} by {requested_by}", subscription_id=subscription_id,
        change_type=kind, old_quantity=old_q, new_quantity=new_q, new_price=sub.unit_price, effective=now,
        requested_by=requested_by, origin=ChangeOrigin.SALES_REP, provisioning_status=ProvisioningStatus.AWAITING))


def revert_refused(dv: DataverseClient, subscription_id: str, change_type: int | None, old_quantity: int | None) -> None:
    """After a refusal, show the quantity/status the customer still has."""
    if change_type == ChangeType.CANCEL:
        subscriptions.set_seats(dv, subscription_id, status=SubscriptionStatus.ACTIVE)
    elif old_quantity is not None:
        subscriptions.set_seats(dv, subscription_id, quantity=old_quantity)
