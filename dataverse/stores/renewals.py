"""What renewing or ending license terms reads and writes (jobs/contracts.py runs it, billing.renewals
decides): the active licenses on a contract whose commitment ended, and for each renewal its Renew or
Cancel change log (upserted on cspb_changekey) then the subscription's new term, price and status."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from billing.models import Subscription, SubscriptionKind, SubscriptionStatus
from billing.renewals import Renewal
from dataverse import map_billing as m
from dataverse.client import DataverseClient
from dataverse.odata import bind
from dataverse.stores._rows import midnight
from dataverse.tables import EntitySet


def ended_terms(dv: DataverseClient, on_date: date) -> list[Subscription]:
    """Active licenses on a billing contract whose commitment ended before `on_date`."""
    flt = (f"_cspb_billingcontract_value ne null and cspb_kind eq {int(SubscriptionKind.LICENSE)} "
           f"and cspb_status eq {int(SubscriptionStatus.ACTIVE)} and cspb_commitmentenddate lt {midnight(on_date)}")
    subs = [m.subscription_from_row(r) for r in dv.list(EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT,
                                                        filter=flt)]
    return [s for s in subs if s.commitment_end_date is not None and s.commitment_end_date < on_date]


def _log_row(r: Renewal) -> dict[str, Any]:
    log = r.log
    row: dict[str, Any] = {
        "cspb_changekey": log.change_key, "cspb_name": f"{log.change_type.name.title()} {log.change_key}"[:100],
        "cspb_changetype": int(log.change_type), "cspb_oldquantity": log.old_quantity,
        "cspb_newquantity": log.new_quantity, "cspb_effectivedate": midnight(log.effective_date),
        "cspb_requestedby": "billing renewal", "cspb_origin": int(log.origin),
        "cspb_provisioningstatus": int(log.provisioning_status), "cspb_archived": False, "cspb_isdrift": False,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, log.subscription_id or ""),
    }
    if log.old_price is not None:
        row["cspb_oldprice"] = log.old_price
    if log.new_price is not None:
        row["cspb_newprice"] = log.new_price
    return row


def _subscription_row(r: Renewal) -> dict[str, Any]:
    sub = r.subscription
    row: dict[str, Any] = {"cspb_providersubscriptionid": sub.provider_subscription_id}
    if sub.status is not SubscriptionStatus.ACTIVE:
        # Only when it changes: status is a filtering attribute of the subscription Update webhook.
        row["cspb_status"] = int(sub.status)
    if sub.commitment_end_date is not None:
        row["cspb_commitmentenddate"] = midnight(sub.commitment_end_date)
    if r.log.new_price is not None:
        row["cspb_unitprice"] = sub.unit_price
    return row


def write_renewals(dv: DataverseClient, due: Sequence[Renewal]) -> None:
    """The change logs first, then the subscriptions: until a subscription is written a re-run finds it
    again, computes the same log key and rewrites the same row."""
    if not due:
        return
    dv.bulk_upsert(EntitySet.LICENSE_CHANGE_LOGS, "cspb_licensechangelog", ["cspb_changekey"],
                   [_log_row(r) for r in due])
    dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"],
                   [_subscription_row(r) for r in due])
