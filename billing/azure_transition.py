"""The guided move from legacy Microsoft Azure (MS-AZR-0145P) to an Azure plan, as a tracked state
on the legacy subscription that the subscription sync advances:

    Flagged -> Instructions Sent -> New Plan Seen -> Done

- Flagged: the sync found a legacy Azure subscription (flagged "needs transition").
- Instructions Sent: the rep has the steps (on the subscription form, and as a task on the account).
- New Plan Seen: the sync has seen an active Azure plan for the same customer; what is left is
  Partner Center's transition of the Azure resources, after which the legacy subscription ends.
- Done: the legacy subscription is no longer active at the provider.

Pure: the sync's store reads the rows and writes what `advance` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class TransitionState(IntEnum):
    """A legacy Azure subscription's transition state."""

    FLAGGED = 1
    INSTRUCTIONS_SENT = 2
    NEW_PLAN_SEEN = 3
    DONE = 4


@dataclass(frozen=True)
class Step:
    state: TransitionState
    send_instructions: bool  # write the steps on the form and open the rep's task


def advance(current: TransitionState | None, *, legacy: str, plan_active: bool) -> Step | None:
    """The next state of a flagged legacy subscription, or None when nothing changes. `legacy` is
    "active", "suspended" or "ended" (cancelled or expired). States only move forward: a plan seen
    once is not "unseen" by one sync that missed it."""
    if current is TransitionState.DONE:
        return None
    seen = plan_active or current is TransitionState.NEW_PLAN_SEEN
    if legacy == "ended" or (legacy == "suspended" and seen):
        # Partner Center disables the legacy subscription once its resources moved to the plan.
        return Step(TransitionState.DONE, False)
    if legacy == "suspended":
        return None  # suspended for another reason (non-payment): wait, it may come back
    if plan_active:
        if current is TransitionState.NEW_PLAN_SEEN:
            return None
        # Instructions still go out once when the plan was already there at first sight.
        return Step(TransitionState.NEW_PLAN_SEEN, current in (None, TransitionState.FLAGGED))
    if current in (None, TransitionState.FLAGGED):
        return Step(TransitionState.INSTRUCTIONS_SENT, True)
    return None


TASK_SUBJECT = "Move {customer} from legacy Microsoft Azure to an Azure plan"


def instructions(*, customer: str, legacy_name: str, legacy_id: str, has_plan: bool) -> str:
    """What the rep does, in English (the form and the task carry the same text)."""
    plan_step = ("2. The customer already has an Azure plan in Dynamics: nothing to buy."
                 if has_plan else
                 "2. Add the Azure plan from Dynamics: on the customer's provider account add a subscription for "
                 "product DZH318Z0BPS6, SKU 0001, quantity 1. It is bought through its change log like any "
                 "purchase; a customer can have only one Azure plan.")
    return "\n".join((
        f"{legacy_name} ({legacy_id}) is a legacy Microsoft Azure (MS-AZR-0145P) subscription of {customer}. "
        "Microsoft moves these customers to the Azure plan. Steps:",
        "1. Check that the customer has accepted the Microsoft Customer Agreement (the provider account shows "
        "MCA attested); the Azure plan cannot be bought without it.",
        plan_step,
        "3. In Partner Center, open the customer, then the Microsoft Azure subscription, and transition it to the "
        "Azure plan. Partner Center moves the Azure resources; the legacy subscription is disabled afterwards.",
        "4. Nothing else to update here: the subscription sync sets this subscription's Transition State to "
        "New Plan Seen when the plan appears, and to Done once the legacy subscription is no longer active.",
    ))
