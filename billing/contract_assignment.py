"""Which billing contract a subscription found at the provider is billed on. Pure.

The subscription sync brings subscriptions in without a billing contract. Each mapped CRM account
gets one default contract per currency and kind:
- licenses (and one-time purchases): monthly, in advance;
- Azure plan, its entitlements, legacy Azure and marketplace: monthly, in arrears (usage is
  always billed after the fact).
The contract number is derived from the account, currency and kind, so a re-run (or a second
worker) finds the same contract instead of creating another. A new contract starts where its
billing begins: the first of the month of its earliest subscription, or, for history older than
the onboarding window (ONBOARDING_DAYS), the first cycle inside it. Runs then bill every cycle
from the contract start on, with no horizon. An existing contract is used as it is.

Usage markup: a new Azure and usage contract gets the partner's markup for usage from its markup rules,
the same rules the catalog sync prices licenses with (billing.catalog_pricing.select_rule): the rule for
the Azure plan's product family, else the default rule, in the contract's currency and price list. Work
365 applies a usage subscription's Markup % to Microsoft's cost when consumption is imported; without a
rule the markup is 0 and usage bills at cost. A fixed-price rule prices a unit, not metered usage, so it
never sets a usage markup. An existing contract keeps its own.

Price: a subscription keeps a unit price it already has; one without gets the amount of the
account's price list for its product and term + billing frequency (the catalog sync's
productpricelevel rows, keyed as billing.catalog_pricing keys them). The account's price list is
the one in its currency ("CSP CAD"); when the catalog holds no price list in that currency the
licenses are billed in USD, the currency Microsoft falls back to. A license nobody can price is
left unassigned and reported: billing it at zero would look like a free seat.

Onboarding: the sync records a subscription it finds as a New change log dated the day it looked.
For billing, the seats began on the subscription's start date, so that log is moved there; when
that is before the first cycle the run bills, the log is archived (history from before billing
began: it still shapes the seat timeline, but bills nothing). Otherwise a subscription bought two
years ago would be charged two years of proration on its first invoice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

from billing.catalog_pricing import (
    FALLBACK_CURRENCY,
    MarkupRule,
    family_of,
    price_key,
    price_list_name,
    product_number,
    select_rule,
    unit_name,
)
from billing.currency import currency_for_country
from billing.cycles import due_cycles
from billing.models import (
    USAGE_KINDS,
    BillingContract,
    ChangeLog,
    ChangeOrigin,
    ChangeType,
    Frequency,
    Policy,
    Subscription,
    SubscriptionStatus,
)


class ContractKind(StrEnum):
    LICENSES = "L"
    USAGE = "U"


KIND_TERMS: dict[ContractKind, tuple[Frequency, Policy]] = {
    ContractKind.LICENSES: (Frequency.MONTHLY, Policy.ADVANCE),
    ContractKind.USAGE: (Frequency.MONTHLY, Policy.ARREARS),
}
# Nothing left to bill: such a subscription is not put on a contract at all.
ENDED = frozenset({SubscriptionStatus.EXPIRED, SubscriptionStatus.CANCELLED})
# A subscription's billing frequency (Microsoft's billing cycle as a term code) -> the price sheet's BillingPlan.
BILLING_PLAN: dict[str, str] = {"P1M": "monthly", "P1Y": "annual", "P3Y": "triennial"}

@dataclass(frozen=True)
class MappedAccount:
    """A provider account mapped to a CRM account (mapping status Mapped, CRM account set)."""

    provider_account_id: str
    account_id: str
    name: str = ""
    currency: str = ""
    country: str = ""


@dataclass(frozen=True)
class Assignment:
    subscription: Subscription  # as it is to be written: contract_id = contract number, price, currency
    contract_number: str
    price_source: str = ""  # the price key the unit price came from ("" = it had one)


@dataclass
class AssignmentPlan:
    new_contracts: list[BillingContract] = field(default_factory=list)
    used_contracts: list[str] = field(default_factory=list)  # numbers of existing contracts that get subscriptions
    assignments: list[Assignment] = field(default_factory=list)
    unassigned: list[tuple[Subscription, str]] = field(default_factory=list)
    ended: list[Subscription] = field(default_factory=list)


def contract_kind(sub: Subscription) -> ContractKind:
    return ContractKind.USAGE if sub.kind in USAGE_KINDS else ContractKind.LICENSES


def account_currency(account: MappedAccount) -> str:
    return (account.currency or currency_for_country(account.country)).upper()


def license_currency(account: MappedAccount, price_list_currencies: Collection[str]) -> str:
    """The account's currency when the catalog has a price list in it, else USD."""
    wanted = account_currency(account)
    return wanted if wanted in {c.upper() for c in price_list_currencies} else FALLBACK_CURRENCY


def contract_number(account_id: str, currency: str, kind: ContractKind) -> str:
    """`L3F9A2C1B-USD`: kind, a digest of the CRM account id, currency. Short enough that the
    invoice numbers derived from it (contract + -YYMMDD) stay readable within 20 characters."""
    digest = hashlib.sha256(account_id.lower().encode()).hexdigest()[:8].upper()
    return f"{kind.value}{digest}-{currency.upper()}"


# The family the catalog gives the Azure plan (its price-sheet title, "Azure plan"): a markup rule for it
# prices usage; the default rule ("" family) does when there is none.
USAGE_FAMILY = family_of({"ProductTitle": "Azure plan"})


def usage_markup(rules: Iterable[MarkupRule], currency: str) -> Decimal:
    """The partner's usage markup % for a new usage contract in `currency` (see the module docstring)."""
    rule = select_rule((r for r in rules if r.markup_pct is not None), USAGE_FAMILY, currency.upper(),
                       price_list_name(currency.upper()))
    return rule.markup_pct if rule is not None and rule.markup_pct is not None else Decimal(0)


def default_contract(account: MappedAccount, currency: str, kind: ContractKind, start: date,
                     rules: Iterable[MarkupRule] = ()) -> BillingContract:
    frequency, policy = KIND_TERMS[kind]
    number = contract_number(account.account_id, currency, kind)
    label = "licenses" if kind is ContractKind.LICENSES else "Azure and usage"
    return BillingContract(
        number=number, account_id=account.account_id, frequency=frequency, policy=policy,
        start_date=start.replace(day=1), currency=currency.upper(),
        name=f"{account.name or number} - {label} ({currency.upper()})"[:100],
        usage_markup_pct=usage_markup(rules, currency) if kind is ContractKind.USAGE else Decimal(0),
    )


def subscription_price_key(sub: Subscription, currency: str) -> str | None:
    if not sub.provider_product_id or not sub.sku_id:
        return None
    plan = BILLING_PLAN.get(sub.billing_frequency, "monthly")
    return price_key(price_list_name(currency), product_number(sub.provider_product_id, sub.sku_id),
                     unit_name(sub.term or sub.billing_frequency, plan))


def _has_price(sub: Subscription) -> bool:
    return sub.unit_price > 0


def plan_assignments(
    accounts: Iterable[MappedAccount],
    subscriptions: Iterable[Subscription],
    contracts: Iterable[BillingContract],
    prices: Mapping[str, Decimal],
    price_list_currencies: Collection[str],
    *,
    on_date: date,
    markup_rules: Sequence[MarkupRule] = (),
) -> AssignmentPlan:
    """Contracts to create and the subscription updates that put every billable subscription of a
    mapped account on its default contract. `subscriptions` are those without a contract;
    `contracts` the existing ones (any account); `prices` price key -> price list amount;
    `markup_rules` the partner's, for a new usage contract's markup."""
    by_number = {c.number: c for c in contracts}
    by_provider_account = {a.provider_account_id: a for a in accounts}
    plan = AssignmentPlan()
    grouped: dict[str, list[Assignment]] = {}
    earliest: dict[str, date] = {}
    owner: dict[str, tuple[MappedAccount, str, ContractKind]] = {}
    for sub in sorted(subscriptions, key=lambda s: s.provider_subscription_id):
        account = by_provider_account.get(sub.provider_account_id or "")
        if account is None or sub.contract_id:
            continue
        if sub.status in ENDED:
            plan.ended.append(sub)
            continue
        kind = contract_kind(sub)
        source = ""
        if kind is ContractKind.USAGE:
            currency = (sub.currency or account_currency(account)).upper()
            priced = replace(sub, currency=currency)
        elif _has_price(sub):
            currency = (sub.currency or license_currency(account, price_list_currencies)).upper()
            priced = replace(sub, currency=currency)
        else:
            currency = license_currency(account, price_list_currencies)
            key = subscription_price_key(sub, currency)
            amount = prices.get(key) if key else None
            if amount is None:
                why = (f"no price for {sub.provider_product_id}:{sub.sku_id} ({sub.term} billed "
                       f"{BILLING_PLAN.get(sub.billing_frequency, sub.billing_frequency)}) in price list "
                       f"'{price_list_name(currency)}'; run the catalog sync or set the subscription's unit price"
                       if key else "the subscription has no product/SKU to price it by; set its unit price")
                plan.unassigned.append((sub, why))
                continue
            source = key or ""
            priced = replace(sub, unit_price=amount, currency=currency)
        number = contract_number(account.account_id, currency, kind)
        holder = by_number[number].account_id if number in by_number else None
        if number in owner and owner[number][0].account_id != account.account_id or (
                holder and holder.lower() != account.account_id.lower()):
            # Two accounts whose digests collide: never bill one account's seats on another's contract.
            plan.unassigned.append((sub, f"contract number {number} belongs to another account; assign it by hand"))
            continue
        owner[number] = (account, currency, kind)
        start = sub.start_date or date.min
        earliest[number] = min(earliest.get(number, start), start)
        grouped.setdefault(number, []).append(Assignment(replace(priced, contract_id=number), number, source))
    for number in sorted(grouped):
        if number in by_number:
            plan.used_contracts.append(number)
        else:
            account, currency, kind = owner[number]
            start = earliest[number]
            contract = default_contract(account, currency, kind, start if start != date.min else on_date,
                                        markup_rules)
            plan.new_contracts.append(replace(contract, start_date=billing_begins(contract, on_date)))
        plan.assignments.extend(grouped[number])
    return plan


def is_discovery_log(log: ChangeLog) -> bool:
    """The sync's record of a subscription it found at the provider (not one we ordered)."""
    return (log.change_type is ChangeType.NEW and log.origin is ChangeOrigin.PROVIDER_SYNC
            and log.invoice_id is None)


# How far back a contract created for subscriptions found at the provider starts billing.
ONBOARDING_DAYS = 31


def billing_begins(contract: BillingContract, on_date: date, catch_up_days: int | None = ONBOARDING_DAYS) -> date:
    """Start of the first cycle a run on `on_date` bills (the contract start when none is due yet)."""
    due = due_cycles(contract, on_date, catch_up_days)
    return due[0].start if due else max(contract.start_date, on_date.replace(day=1))


def onboarding_logs(logs: Iterable[ChangeLog], subs: Sequence[Subscription], contracts: Mapping[str, BillingContract],
                    on_date: date, catch_up_days: int | None = ONBOARDING_DAYS) -> list[ChangeLog]:
    """The discovery logs of newly assigned subscriptions, as they are to be written: dated on the
    subscription's start, and archived when that falls before billing begins. `subs` carry their
    contract number in contract_id; `contracts` maps numbers to contracts."""
    by_id = {s.id: s for s in subs if s.id}
    out = []
    for log in logs:
        sub = by_id.get(log.subscription_id or "")
        if sub is None or not is_discovery_log(log) or log.archived:
            continue
        contract = contracts.get(sub.contract_id or "")
        if contract is None:
            continue
        start = sub.start_date or log.effective_date
        archived = start < billing_begins(contract, on_date, catch_up_days)
        if start != log.effective_date or archived:
            out.append(replace(log, effective_date=start, archived=archived))
    return out
