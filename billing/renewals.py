"""Term ends: renew or cancel, and co-terming a new subscription to the contract.

At the end of its commitment a license either auto-renews for another term (a RENEW change log,
same seats) or ends (a CANCEL change log effective the day after the term). Both logs come from
origin Renewal and need no provisioning.

Co-terming (Work 365 §4.7, v4.5+; Microsoft's customTermEndDate, newcommerce_lifecycle_facts §A4)
aligns a subscription a rep adds to a contract with the contract: its billing always follows the
contract's cycles (the first partial cycle is prorated from the start date), and a term of a year
or more ends on the contract's renewal date when that falls inside its own first term, so every
license renews together. The commitment itself never changes length otherwise: a monthly-term
subscription keeps its one-month commitment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from billing.cycles import add_months
from billing.models import (
    TERM_MONTHS,
    BillingContract,
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    Frequency,
    ProvisioningStatus,
    Subscription,
    SubscriptionKind,
    SubscriptionStatus,
)


def contract_renewal_date(contract: BillingContract, on: date) -> date:
    """Last day of the contract term running on `on`: terms are 12 months from the start date
    (36 for triennial contracts)."""
    months = 36 if contract.frequency is Frequency.TRIENNIAL else 12
    n = 1
    while add_months(contract.start_date, n * months) <= on:
        n += 1
    return add_months(contract.start_date, n * months) - timedelta(days=1)


def own_term_end(sub: Subscription, start: date) -> date:
    return add_months(start, TERM_MONTHS.get(sub.term, 1)) - timedelta(days=1)


def coterm(sub: Subscription, contract: BillingContract) -> Subscription:
    """The subscription with its first commitment end co-termed to the contract (see above)."""
    start = sub.start_date or contract.start_date
    own = own_term_end(sub, start)
    if TERM_MONTHS.get(sub.term, 1) < 12:
        return replace(sub, commitment_end_date=own)
    renewal = contract_renewal_date(contract, start)
    return replace(sub, commitment_end_date=min(renewal, own))


def term_end_changes(subs: list[Subscription], on: date) -> tuple[list[ChangeLog], list[Subscription]]:
    """Change logs for every active license whose term ended before `on`, and the subscriptions as
    they are after it (renewed: commitment end moved one term on; not renewed: cancelled)."""
    logs: list[ChangeLog] = []
    updated: list[Subscription] = []
    for sub in subs:
        end = sub.commitment_end_date
        if sub.kind is not SubscriptionKind.LICENSE or sub.status is not SubscriptionStatus.ACTIVE or end is None:
            continue
        if end >= on:
            continue
        effective = end + timedelta(days=1)
        months = TERM_MONTHS.get(sub.term, 1)
        if sub.auto_renew:
            new_end = end
            while new_end < on:
                new_end = add_months(new_end + timedelta(days=1), months) - timedelta(days=1)
            change_type, new_sub = ChangeType.RENEW, replace(sub, commitment_end_date=new_end)
            new_qty = sub.quantity
        else:
            change_type, new_sub = ChangeType.CANCEL, replace(sub, status=SubscriptionStatus.CANCELLED)
            new_qty = 0
        logs.append(ChangeLog(
            change_key=f"{sub.provider_subscription_id}|{change_type.name.lower()}|{effective.isoformat()}",
            subscription_id=sub.id,
            change_type=change_type,
            effective_date=effective,
            old_quantity=sub.quantity,
            new_quantity=new_qty,
            origin=ChangeOrigin.RENEWAL,
            provisioning_status=ProvisioningStatus.NOT_APPLICABLE,
        ))
        updated.append(new_sub)
    return logs, updated


@dataclass(frozen=True)
class Renewal:
    log: ChangeLog  # Renew or Cancel, origin Renewal, key = subscription|renew/cancel|day after the term
    subscription: Subscription  # as it is after the term end


def renewals_due(subs: list[Subscription], on: date, prices: Mapping[str, Decimal] | None = None) -> list[Renewal]:
    """What the billing run writes for terms that ended before `on`.

    Auto-renew: a Renew log and the next commitment end; the price is refreshed from the price
    list (`prices`: price key -> amount, billing.contract_assignment keys) because a subscription
    keeps its price for the whole term and the new price starts with the new term. The log
    carries old and new price so the seat timeline prices the days before the renewal at the old
    one. No auto-renew: a Cancel log on the day after the term and status Expired; the log keeps
    the seat count (the Cancel type is what ends billing), so a seat comparison against it never
    reads as a change.
    The log key comes from the subscription and its term end, so running twice writes one log."""
    from billing.contract_assignment import subscription_price_key

    logs, updated = term_end_changes(subs, on)
    out = []
    for log, sub in zip(logs, updated, strict=True):
        if log.change_type is ChangeType.RENEW:
            key = subscription_price_key(sub, sub.currency) if sub.currency else None
            price = (prices or {}).get(key) if key else None
            if price is not None and price != sub.unit_price:
                log = replace(log, old_price=sub.unit_price, new_price=price)
                sub = replace(sub, unit_price=price)
        else:
            log = replace(log, new_quantity=log.old_quantity)
            sub = replace(sub, status=SubscriptionStatus.EXPIRED)
        out.append(Renewal(log, sub))
    return out
