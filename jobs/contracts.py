"""Before a billing run: put synced subscriptions on billing contracts, and renew or end the
terms that ran out. The rules are pure (billing.contract_assignment, billing.renewals); the reads and
writes are typed stores (dataverse/stores/contract_assignment.py, renewals.py, price_lists.py).

Write order, so that a crash anywhere is finished by a re-run:
- assignment: contracts (upserted on their deterministic number), then the onboarding change logs,
  then the subscriptions' contract link and price. Subscriptions are the last write because "has a
  contract" is what a re-run uses to skip them.
- renewals: the Renew/Cancel change log (upserted on a key derived from subscription + term end),
  then the subscription's new commitment end / price / status. Until the subscription is
  written, a re-run computes the same log key and rewrites the same row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from billing import contract_assignment as ca
from billing.catalog_pricing import price_list_name
from billing.models import SubscriptionStatus
from billing.renewals import renewals_due
from dataverse.catalog_repo import markup_rules
from dataverse.client import DataverseClient
from dataverse.stores import contract_assignment as store
from dataverse.stores import renewals as renewal_store
from dataverse.stores.price_lists import currency_ids, load_prices, price_lists

# ---- assignment ----------------------------------------------------------------------------------


@dataclass
class AssignSummary:
    on_date: date
    contracts_created: list[str] = field(default_factory=list)
    contracts_used: list[str] = field(default_factory=list)
    assigned: int = 0
    priced_from_price_list: int = 0
    onboarding_logs: int = 0
    archived_logs: int = 0
    ended: int = 0
    unassigned: list[tuple[str, str]] = field(default_factory=list)  # (provider subscription id, reason)
    blocked: list[tuple[str, str]] = field(default_factory=list)  # (provider account name, reason)
    no_provider_account: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"onDate": self.on_date.isoformat(), "contractsCreated": list(self.contracts_created),
                "contractsUsed": list(self.contracts_used), "assigned": self.assigned,
                "pricedFromPriceList": self.priced_from_price_list, "onboardingLogs": self.onboarding_logs,
                "archivedLogs": self.archived_logs, "ended": self.ended,
                "unassigned": [list(u) for u in self.unassigned], "blocked": [list(b) for b in self.blocked],
                "noProviderAccount": self.no_provider_account}


def assign_contracts(dv: DataverseClient, *, on_date: date, catch_up_days: int | None = ca.ONBOARDING_DAYS,
                     progress: Callable[[int], None] | None = None) -> AssignSummary:
    """Put every subscription of a mapped provider account that has no billing contract on the
    account's default contract for its currency and kind (created when missing). Unmapped
    accounts are reported with the reason and left alone. Safe to repeat."""
    summary = AssignSummary(on_date)
    mapped, blocked = store.billable_accounts(dv)
    subs = store.unassigned_subscriptions(dv)
    summary.no_provider_account = sum(1 for s in subs if not s.provider_account_id)
    waiting = {s.provider_account_id for s in subs if s.provider_account_id}
    summary.blocked = sorted(v for k, v in blocked.items() if k in waiting)

    levels = price_lists(dv)
    currencies = set(levels)
    by_pa = {a.provider_account_id: a for a in mapped}
    wanted_keys = []
    for sub in subs:
        account = by_pa.get(sub.provider_account_id or "")
        if account is not None and ca.contract_kind(sub) is ca.ContractKind.LICENSES and sub.unit_price <= 0:
            wanted_keys.append(ca.subscription_price_key(sub, ca.license_currency(account, currencies)) or "")
    prices = load_prices(dv, wanted_keys)

    mapped_subs = [s for s in subs if s.provider_account_id in by_pa]
    # First pass names the contracts the subscriptions need; the second knows which exist.
    first = ca.plan_assignments(mapped, mapped_subs, (), prices, currencies, on_date=on_date)
    existing = store.contracts_by_number(dv, [c.number for c in first.new_contracts])
    # A new usage contract takes the partner's usage markup from the markup rules (read only when one is made).
    rules = markup_rules(dv, {level: price_list_name(currency) for currency, level in levels.items()}) if any(
        c.number not in existing for c in first.new_contracts) else []
    plan = ca.plan_assignments(mapped, mapped_subs, existing.values(), prices, currencies, on_date=on_date,
                               markup_rules=rules)
    summary.ended = len(plan.ended)
    summary.unassigned = [(s.provider_subscription_id, why) for s, why in plan.unassigned]
    summary.contracts_used = list(plan.used_contracts)
    if not plan.assignments:
        return summary

    if plan.new_contracts:
        ids = currency_ids(dv)
        store.write_contracts(dv, [replace(c, price_level_id=levels.get(c.currency),
                                           transaction_currency_id=ids.get(c.currency)) for c in plan.new_contracts])
        summary.contracts_created = [c.number for c in plan.new_contracts]
        existing.update(store.contracts_by_number(dv, summary.contracts_created))

    assigned_subs = [a.subscription for a in plan.assignments]
    fixes = ca.onboarding_logs(store.discovery_logs(dv, [s.id for s in assigned_subs if s.id]), assigned_subs,
                               existing, on_date, catch_up_days)
    store.write_onboarding_logs(dv, fixes)
    summary.onboarding_logs = len(fixes)
    summary.archived_logs = sum(1 for log in fixes if log.archived)

    summary.assigned = store.write_assignments(dv, plan.assignments, existing)
    if progress is not None:
        progress(summary.assigned)
    summary.priced_from_price_list = sum(1 for a in plan.assignments if a.price_source)
    return summary


# ---- renewals ------------------------------------------------------------------------------------


@dataclass
class RenewalSummary:
    on_date: date
    renewed: int = 0
    expired: int = 0
    repriced: int = 0
    change_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"onDate": self.on_date.isoformat(), "renewed": self.renewed, "expired": self.expired,
                "repriced": self.repriced, "changeKeys": list(self.change_keys)}


def apply_renewals(dv: DataverseClient, *, on_date: date) -> RenewalSummary:
    """Renew (auto-renew on) or end (status Expired) every active license on a contract whose
    commitment ended before `on_date`; a renewal takes the price list's current price."""
    summary = RenewalSummary(on_date)
    ended = renewal_store.ended_terms(dv, on_date)
    if not ended:
        return summary
    keys = [ca.subscription_price_key(s, s.currency) or "" for s in ended if s.auto_renew and s.currency]
    due = renewals_due(ended, on_date, load_prices(dv, keys))
    if not due:
        return summary
    renewal_store.write_renewals(dv, due)
    summary.renewed = sum(1 for r in due if r.subscription.status is SubscriptionStatus.ACTIVE)
    summary.expired = len(due) - summary.renewed
    summary.repriced = sum(1 for r in due if r.log.new_price is not None)
    summary.change_keys = [r.log.change_key for r in due]
    return summary
