"""A subscription's commitment term as provisioning reads it: where a new subscription's first term
ends when co-termed to its billing contract, and the seat additions that opened their own windows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

from billing.models import ChangeType, ProvisioningStatus
from billing.newcommerce import SeatAddition
from billing.newcommerce import seat_additions as additions
from billing.renewals import coterm
from dataverse import map_billing as m
from dataverse.client import DataverseClient
from dataverse.tables import EntitySet

# A change that was never sent (or was refused) opened no window.
_TOOK_EFFECT = (ProvisioningStatus.PROVISIONED, ProvisioningStatus.NOT_APPLICABLE)


def coterm_end(dv: DataverseClient, subscription_id: str, start: date) -> date | None:
    """The first commitment end of a subscription a rep just bought on a billing contract,
    co-termed to that contract (billing.renewals.coterm); None when it is on no contract."""
    sub = m.subscription_from_row(dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=m.SUBSCRIPTION_SELECT))
    if not sub.contract_id:
        return None
    contract = m.contract_from_row(dv.get(EntitySet.BILLING_CONTRACTS, sub.contract_id, select=m.CONTRACT_SELECT))
    return coterm(replace(sub, start_date=start), contract).commitment_end_date


def seat_additions(dv: DataverseClient, subscription_id: str,
                   exclude_change_id: str | None = None) -> tuple[SeatAddition, ...]:
    """(when, seats) of the mid-term seat additions (increases) of a subscription that took effect,
    for their own 168-hour windows (billing.newcommerce). The purchase and each renewal are covered
    by the term-start window, and the sync's New log is dated when it was found, not bought."""
    rows = dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=m.CHANGE_LOG_SELECT,
                   filter=f"_cspb_subscription_value eq {subscription_id}")
    logs = [m.change_log_from_row(r) for r in rows]
    return tuple(additions(
        (datetime(c.effective_date.year, c.effective_date.month, c.effective_date.day, tzinfo=UTC),
         c.old_quantity, c.new_quantity)
        for c in logs if c.id != exclude_change_id and c.change_type is ChangeType.INCREASE
        and c.provisioning_status in _TOOK_EFFECT and not c.archived))
