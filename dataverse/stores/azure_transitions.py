"""The legacy Microsoft Azure -> Azure plan transition rows: for a batch of provider accounts, the
flagged legacy subscriptions and the customers' Azure plans, and the state writes and rep tasks
that billing/azure_transition.py decides.

One read per batch (both kinds together), writes only for the rows whose state moves. The rep's
task has an id derived from the subscription, so a sync that retries after a lost answer finds its
own task instead of opening a second one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billing.azure_transition import TASK_SUBJECT, TransitionState, advance, instructions
from billing.models import SubscriptionKind, SubscriptionStatus
from dataverse.client import DataverseClient
from dataverse.odata import any_of, bind
from dataverse.tables import EntitySet
from shared.logging import get_logger

log = get_logger(__name__)

_TASK_NAMESPACE = uuid.UUID("0d7e3b5e-1c55-4a7b-9a39-6b1f5f0c2a19")
_ACTIVE = (int(SubscriptionStatus.ACTIVE),)
_SELECT = ["cspb_subscriptionid", "cspb_name", "cspb_kind", "cspb_status", "cspb_needstransition",
           "cspb_transitionstate", "cspb_providersubscriptionid", "_cspb_provideraccount_value"]


@dataclass(frozen=True)
class Moved:
    subscription_id: str
    state: TransitionState
    task_id: str | None = None


class Flagged(Protocol):
    """A subscription record that says whether it still needs the transition."""

    @property
    def needs_transition(self) -> bool: ...


def any_in_transition(subscriptions: Iterable[Flagged]) -> bool:
    """Whether any of these subscriptions (the sync's snapshot or new ones) is a legacy Azure
    subscription still in transition; a Done one clears cspb_needstransition."""
    return any(s.needs_transition for s in subscriptions)


def task_id_for(subscription_id: str) -> str:
    return str(uuid.uuid5(_TASK_NAMESPACE, f"azure-transition|{subscription_id.lower()}"))


def advance_accounts(dv: DataverseClient, provider_account_ids: Sequence[str], now: datetime) -> list[Moved]:
    """Move every flagged legacy Azure subscription of these provider accounts one step on."""
    if not provider_account_ids:
        return []
    accounts = any_of("_cspb_provideraccount_value", provider_account_ids, quote_values=False)
    kinds = any_of("cspb_kind", (int(SubscriptionKind.LEGACY_AZURE), int(SubscriptionKind.AZURE_PLAN)))
    rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=_SELECT, filter=f"({kinds}) and ({accounts})"))
    plans: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.get("cspb_kind") == SubscriptionKind.AZURE_PLAN and row.get("cspb_status") in _ACTIVE:
            plans.setdefault(row["_cspb_provideraccount_value"], row)
    moved = []
    for row in rows:
        if row.get("cspb_kind") != SubscriptionKind.LEGACY_AZURE or not row.get("cspb_needstransition"):
            continue
        state = row.get("cspb_transitionstate")
        plan = plans.get(row["_cspb_provideraccount_value"])
        step = advance(TransitionState(state) if state else None, legacy=_legacy(row.get("cspb_status")),
                       plan_active=plan is not None)
        if step is None:
            continue
        changes: dict[str, Any] = {"cspb_transitionstate": int(step.state)}
        if step.state is TransitionState.DONE:
            changes["cspb_needstransition"] = False
        if plan is not None:
            changes["cspb_transitionplan@odata.bind"] = bind(EntitySet.SUBSCRIPTIONS, plan["cspb_subscriptionid"])
        task = None
        if step.send_instructions:
            text, task = _instruct(dv, row, has_plan=plan is not None, now=now)
            changes["cspb_transitioninstructions"] = text
        dv.update(EntitySet.SUBSCRIPTIONS, row["cspb_subscriptionid"], changes)
        log.info("legacy Azure subscription %s: transition state %s", row["cspb_subscriptionid"], step.state.name)
        moved.append(Moved(row["cspb_subscriptionid"], step.state, task))
    return moved


def _legacy(status: Any) -> str:
    if status in _ACTIVE or status == SubscriptionStatus.PENDING:
        return "active"
    return "suspended" if status == SubscriptionStatus.SUSPENDED else "ended"


def _instruct(dv: DataverseClient, row: dict[str, Any], *, has_plan: bool, now: datetime) -> tuple[str, str | None]:
    """The steps for the rep, and the task on the customer's account (when it is mapped to one)."""
    account = dv.get(EntitySet.PROVIDER_ACCOUNTS, row["_cspb_provideraccount_value"],
                     select=["cspb_name", "cspb_externalid", "_cspb_account_value"])
    customer = account.get("cspb_name") or account.get("cspb_externalid") or "the customer"
    text = instructions(customer=customer, legacy_name=row.get("cspb_name") or "Microsoft Azure",
                        legacy_id=row.get("cspb_providersubscriptionid") or row["cspb_subscriptionid"],
                        has_plan=has_plan)
    crm_account = account.get("_cspb_account_value")
    if not crm_account:
        return text, None
    task_id = dv.create(EntitySet.TASKS, {
        "subject": TASK_SUBJECT.format(customer=customer)[:200], "description": text, "prioritycode": 1,
        "scheduledend": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "regardingobjectid_account_task@odata.bind": bind(EntitySet.ACCOUNTS, crm_account),
    }, id=task_id_for(row["cspb_subscriptionid"]))
    return text, task_id
