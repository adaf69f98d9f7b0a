"""What to do with one license change log: order, patch, cancel, refuse, or nothing. Pure.

The worker re-reads the change log and its subscription, builds a `ChangeFacts`, and asks
`decide()`. Everything that can refuse a change lives here, so the portal, the webhook worker
and the CLI all refuse the same things with the same words.
Picklist values come from billing.models (dataverse.tables re-exports them and checks them against
the solution source).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from billing import newcommerce
from billing.models import ChangeOrigin as Origin
from billing.models import ChangeType, Provider, ProvisioningStatus

__all__ = ["Action", "ChangeFacts", "ChangeType", "Origin", "Plan", "Provider", "ProvisioningStatus", "decide"]


class Action(StrEnum):
    ORDER = "order"                  # buy a new subscription
    SET_QUANTITY = "set_quantity"    # PATCH the seat count
    CANCEL = "cancel"
    TRANSITION = "transition"        # upgrade / term or billing-cycle conversion / trial to paid
    NOT_APPLICABLE = "not_applicable"
    REFUSE = "refuse"
    FAIL = "fail"                    # cannot be sent as it stands (missing data); a person must fix it
    ALREADY_DONE = "already_done"    # a duplicate delivery of a change we already finished


@dataclass(frozen=True)
class ChangeFacts:
    change_type: int
    provisioning_status: int
    origin: int | None
    provider: int | None
    old_quantity: int | None
    new_quantity: int | None
    term: str | None
    start: datetime | None
    commitment_end: datetime | None
    provider_subscription_id: str | None
    mca_attested: bool
    account_mapped: bool = True
    # (when, seats) of each seat addition: each has its own 168-hour window (billing.newcommerce).
    seat_additions: tuple[tuple[datetime, int], ...] = ()
    target: str = ""  # a Term Change's target (catalog item, term, billing frequency), "" when none


@dataclass(frozen=True)
class Plan:
    action: Action
    reason: str = ""

    @property
    def calls_provider(self) -> bool:
        return self.action in (Action.ORDER, Action.SET_QUANTITY, Action.CANCEL, Action.TRANSITION)


def decide(facts: ChangeFacts, now: datetime) -> Plan:
    if facts.provisioning_status != ProvisioningStatus.AWAITING:
        return Plan(Action.ALREADY_DONE, f"change already {ProvisioningStatus(facts.provisioning_status).name}")
    if facts.origin in (Origin.PROVIDER_SYNC,):
        return Plan(Action.NOT_APPLICABLE, "the change came from the provider")
    if facts.provider in (None, Provider.MANUAL):
        return Plan(Action.NOT_APPLICABLE, "no automatic provider on this subscription")
    if facts.change_type == ChangeType.PRICE_CHANGE:
        return Plan(Action.NOT_APPLICABLE, "price changes are not sent to the provider")
    if not facts.account_mapped:
        return Plan(Action.FAIL, "the provider account is not mapped to a CRM account")
    needs_mca = facts.provider == Provider.PARTNER_CENTER
    if facts.change_type == ChangeType.NEW:
        decision = newcommerce.check_new_order(quantity=facts.new_quantity or 0,
                                               mca_attested=facts.mca_attested or not needs_mca)
        return Plan(Action.ORDER) if decision.allowed else Plan(Action.REFUSE, decision.reason)
    if facts.change_type in (ChangeType.INCREASE, ChangeType.DECREASE, ChangeType.CANCEL):
        if not facts.provider_subscription_id:
            return Plan(Action.FAIL, "the subscription has no provider subscription id yet (not provisioned)")
        if not facts.term or facts.start is None:
            return Plan(Action.FAIL, "the subscription has no term or start date; run a subscription sync first")
        if facts.change_type == ChangeType.CANCEL:
            decision = newcommerce.check_cancellation(start=facts.start, term=facts.term, now=now,
                                                      commitment_end=facts.commitment_end)
            return Plan(Action.CANCEL) if decision.allowed else Plan(Action.REFUSE, decision.reason)
        decision = newcommerce.check_quantity_change(
            old_quantity=facts.old_quantity or 0, new_quantity=facts.new_quantity or 0, start=facts.start,
            term=facts.term, now=now, commitment_end=facts.commitment_end, additions=facts.seat_additions)
        return Plan(Action.SET_QUANTITY) if decision.allowed else Plan(Action.REFUSE, decision.reason)
    if facts.change_type == ChangeType.TERM_CHANGE:
        if not facts.provider_subscription_id:
            return Plan(Action.FAIL, "the subscription has no provider subscription id yet (not provisioned)")
        if not facts.target:
            return Plan(Action.FAIL, "a term change needs a target catalog item, term or billing frequency")
        return Plan(Action.TRANSITION)
    return Plan(Action.NOT_APPLICABLE, f"{ChangeType(facts.change_type).name} changes are not provisioned automatically")


def change_type_for(old_quantity: int, new_quantity: int) -> ChangeType:
    return ChangeType.INCREASE if new_quantity >= old_quantity else ChangeType.DECREASE
