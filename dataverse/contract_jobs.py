"""Before a billing run: put synced subscriptions on billing contracts, and renew or end the
terms that ran out. Rules are pure (billing.contract_assignment, billing.renewals); this module
reads and writes Dataverse.

Write order, so that a crash anywhere is finished by a re-run:
- assignment: contracts (upsert on the deterministic cspb_contractnumber), then the onboarding
  change logs, then the subscriptions' contract link and price. Subscriptions are the last write
  because "has a contract" is what a re-run uses to skip them.
- renewals: the Renew/Cancel change log (upsert on a key derived from subscription + term end),
  then the subscription's new commitment end / price / status. Until the subscription is
  written, a re-run computes the same log key and rewrites the same row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing import contract_assignment as ca
from billing.catalog_pricing import price_list_name
from billing.models import BillingContract, ChangeLog, Subscription, SubscriptionKind, SubscriptionStatus
from billing.newcommerce import SeatAddition
from billing.renewals import Renewal, renewals_due
from dataverse import map_billing as m
from dataverse.client import DataverseClient
from dataverse.odata import bind, literal
from dataverse.tables import EntitySet

FILTER_CHUNK = 25
PROVIDER_ACCOUNT_COLUMNS = ["cspb_provideraccountid", "cspb_provider", "cspb_externalid", "cspb_name", "cspb_domain",
                            "cspb_country", "cspb_currencycode", "_cspb_account_value", "cspb_mappingstatus"]


def _chunks(items: Sequence[str], size: int = FILTER_CHUNK) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _any_of(column: str, values: Iterable[str], *, quote: bool = True) -> str:
    return " or ".join(f"{column} eq {literal(v) if quote else v}" for v in values)


def _midnight(day: date) -> str:
    return datetime(day.year, day.month, day.day, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def price_lists(dv: DataverseClient) -> dict[str, str]:
    """Currency -> id of the catalog's price list in it ("CSP EUR", written by the catalog sync)."""
    found = {}
    for row in dv.list(EntitySet.PRICE_LEVELS, select=["pricelevelid", "name", "cspb_currencycode"]):
        name = row.get("name") or ""
        code = (row.get("cspb_currencycode") or name.removeprefix(price_list_name("")).strip()).upper()
        if code and name == price_list_name(code):
            found[code] = row["pricelevelid"]
    return found


def _currency_ids(dv: DataverseClient) -> dict[str, str]:
    return {(r.get("isocurrencycode") or "").upper(): r["transactioncurrencyid"] for r in dv.list(
        EntitySet.TRANSACTION_CURRENCIES, select=["transactioncurrencyid", "isocurrencycode"])}


def load_prices(dv: DataverseClient, keys: Iterable[str]) -> dict[str, Decimal]:
    """Price list amounts by price key (catalog sync's productpricelevel.cspb_pricekey)."""
    prices: dict[str, Decimal] = {}
    for chunk in _chunks(sorted({k for k in keys if k})):
        for row in dv.list(EntitySet.PRODUCT_PRICE_LEVELS, select=["cspb_pricekey", "amount"],
                           filter=_any_of("cspb_pricekey", chunk)):
            if row.get("amount") is not None:
                prices[row["cspb_pricekey"]] = Decimal(str(row["amount"]))
    return prices


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


def _mapped_and_blocked(rows: list[dict[str, Any]]) -> tuple[list[ca.MappedAccount], dict[str, tuple[str, str]]]:
    from dataverse.stores.provider_accounts import billing_block_reason

    mapped, blocked = [], {}
    for row in rows:
        reason = billing_block_reason(row)
        name = row.get("cspb_name") or row.get("cspb_externalid") or row["cspb_provideraccountid"]
        if reason is None:
            mapped.append(ca.MappedAccount(row["cspb_provideraccountid"], row["_cspb_account_value"], name,
                                           (row.get("cspb_currencycode") or "").upper(),
                                           (row.get("cspb_country") or "").upper()))
        else:
            blocked[row["cspb_provideraccountid"]] = (name, reason)
    return mapped, blocked


# Past this many filtered requests one paged read of the whole table is cheaper.
MAX_FILTER_CHUNKS = 4


def _contracts_by_number(dv: DataverseClient, numbers: Sequence[str]) -> dict[str, BillingContract]:
    wanted = sorted(set(numbers))
    if len(wanted) > MAX_FILTER_CHUNKS * FILTER_CHUNK:
        rows: Iterable[dict[str, Any]] = dv.list(EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT)
    else:
        rows = (row for chunk in _chunks(wanted) for row in dv.list(
            EntitySet.BILLING_CONTRACTS, select=m.CONTRACT_SELECT, filter=_any_of("cspb_contractnumber", chunk)))
    keep = set(wanted)
    return {c.number: c for c in (m.contract_from_row(r) for r in rows) if c.number in keep}


def _discovery_logs(dv: DataverseClient, sub_ids: Sequence[str]) -> list[ChangeLog]:
    """The sync's New logs of these subscriptions that no invoice has billed yet."""
    wanted = sorted(set(sub_ids))
    base = "cspb_changetype eq 1 and cspb_origin eq 3 and _cspb_invoice_value eq null"
    if len(wanted) > MAX_FILTER_CHUNKS * FILTER_CHUNK:
        filters = [base]
    else:
        filters = [f"{base} and ({_any_of('_cspb_subscription_value', chunk, quote=False)})"
                   for chunk in _chunks(wanted)]
    keep = set(wanted)
    return [log for flt in filters for log in (m.change_log_from_row(r) for r in dv.list(
        EntitySet.LICENSE_CHANGE_LOGS, select=m.CHANGE_LOG_SELECT, filter=flt)) if log.subscription_id in keep]


def assign_contracts(dv: DataverseClient, *, on_date: date, catch_up_days: int | None = ca.ONBOARDING_DAYS,
                     progress: Callable[[int], None] | None = None) -> AssignSummary:
    """Put every subscription of a mapped provider account that has no billing contract on the
    account's default contract for its currency and kind (created when missing). Unmapped
    accounts are reported with the reason and left alone. Safe to repeat."""
    summary = AssignSummary(on_date)
    accounts = list(dv.list(EntitySet.PROVIDER_ACCOUNTS, select=PROVIDER_ACCOUNT_COLUMNS))
    mapped, blocked = _mapped_and_blocked(accounts)
    subs = [m.subscription_from_row(r) for r in dv.list(
        EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT, filter="_cspb_billingcontract_value eq null")]
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
    existing = _contracts_by_number(dv, [c.number for c in first.new_contracts])
    plan = ca.plan_assignments(mapped, mapped_subs, existing.values(), prices, currencies, on_date=on_date)
    summary.ended = len(plan.ended)
    summary.unassigned = [(s.provider_subscription_id, why) for s, why in plan.unassigned]
    summary.contracts_used = list(plan.used_contracts)
    if not plan.assignments:
        return summary

    if plan.new_contracts:
        currency_ids = _currency_ids(dv)
        new = [replace(c, price_level_id=levels.get(c.currency), transaction_currency_id=currency_ids.get(c.currency))
               for c in plan.new_contracts]
        dv.bulk_upsert(EntitySet.BILLING_CONTRACTS, "cspb_billingcontract", ["cspb_contractnumber"],
                       [m.contract_row(c) for c in new])
        summary.contracts_created = [c.number for c in plan.new_contracts]
        existing.update(_contracts_by_number(dv, summary.contracts_created))

    assigned_subs = [a.subscription for a in plan.assignments]
    fixes = ca.onboarding_logs(_discovery_logs(dv, [s.id for s in assigned_subs if s.id]), assigned_subs,
                               existing, on_date, catch_up_days)
    if fixes:
        dv.bulk_upsert(EntitySet.LICENSE_CHANGE_LOGS, "cspb_licensechangelog", ["cspb_changekey"], [
            {"cspb_changekey": log.change_key, "cspb_effectivedate": _midnight(log.effective_date),
             "cspb_archived": log.archived} for log in fixes])
    summary.onboarding_logs = len(fixes)
    summary.archived_logs = sum(1 for log in fixes if log.archived)

    rows = []
    for a in plan.assignments:
        contract = existing[a.contract_number]
        row: dict[str, Any] = {
            "cspb_providersubscriptionid": a.subscription.provider_subscription_id,
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, contract.id or ""),
            "cspb_currencycode": a.subscription.currency,
        }
        if a.price_source:
            row["cspb_unitprice"] = a.subscription.unit_price
        rows.append(row)
    dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"], rows)
    if progress is not None:
        progress(len(rows))
    summary.assigned = len(rows)
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


def _renewal_log_row(r: Renewal) -> dict[str, Any]:
    log = r.log
    row: dict[str, Any] = {
        "cspb_changekey": log.change_key, "cspb_name": f"{log.change_type.name.title()} {log.change_key}"[:100],
        "cspb_changetype": int(log.change_type), "cspb_oldquantity": log.old_quantity,
        "cspb_newquantity": log.new_quantity, "cspb_effectivedate": _midnight(log.effective_date),
        "cspb_requestedby": "billing renewal", "cspb_origin": int(log.origin),
        "cspb_provisioningstatus": int(log.provisioning_status), "cspb_archived": False, "cspb_isdrift": False,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, log.subscription_id or ""),
    }
    if log.old_price is not None:
        row["cspb_oldprice"] = log.old_price
    if log.new_price is not None:
        row["cspb_newprice"] = log.new_price
    return row


def _renewed_subscription_row(r: Renewal) -> dict[str, Any]:
    sub = r.subscription
    row: dict[str, Any] = {"cspb_providersubscriptionid": sub.provider_subscription_id}
    if sub.status is not SubscriptionStatus.ACTIVE:
        # Only when it changes: status is a filtering attribute of the subscription Update webhook.
        row["cspb_status"] = int(sub.status)
    if sub.commitment_end_date is not None:
        row["cspb_commitmentenddate"] = _midnight(sub.commitment_end_date)
    if r.log.new_price is not None:
        row["cspb_unitprice"] = sub.unit_price
    return row


def apply_renewals(dv: DataverseClient, *, on_date: date) -> RenewalSummary:
    """Renew (auto-renew on) or end (status Expired) every active license on a contract whose
    commitment ended before `on_date`; a renewal takes the price list's current price."""
    summary = RenewalSummary(on_date)
    flt = (f"_cspb_billingcontract_value ne null and cspb_kind eq {int(SubscriptionKind.LICENSE)} "
           f"and cspb_status eq {int(SubscriptionStatus.ACTIVE)} and cspb_commitmentenddate lt {_midnight(on_date)}")
    subs: list[Subscription] = [m.subscription_from_row(r) for r in dv.list(
        EntitySet.SUBSCRIPTIONS, select=m.SUBSCRIPTION_SELECT, filter=flt)]
    ended = [s for s in subs if s.commitment_end_date is not None and s.commitment_end_date < on_date]
    if not ended:
        return summary
    keys = [ca.subscription_price_key(s, s.currency) or "" for s in ended if s.auto_renew and s.currency]
    due = renewals_due(ended, on_date, load_prices(dv, keys))
    if not due:
        return summary
    dv.bulk_upsert(EntitySet.LICENSE_CHANGE_LOGS, "cspb_licensechangelog", ["cspb_changekey"],
                   [_renewal_log_row(r) for r in due])
    dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"],
                   [_renewed_subscription_row(r) for r in due])
    summary.renewed = sum(1 for r in due if r.subscription.status is SubscriptionStatus.ACTIVE)
    summary.expired = len(due) - summary.renewed
    summary.repriced = sum(1 for r in due if r.log.new_price is not None)
    summary.change_keys = [r.log.change_key for r in due]
    return summary


def coterm_end(dv: DataverseClient, subscription_id: str, start: date) -> date | None:
    """The first commitment end of a subscription a rep just bought on a billing contract,
    co-termed to that contract (billing.renewals.coterm); None when it is on no contract."""
    from billing.renewals import coterm

    row = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=m.SUBSCRIPTION_SELECT)
    sub = m.subscription_from_row(row)
    if not sub.contract_id:
        return None
    contract = m.contract_from_row(dv.get(EntitySet.BILLING_CONTRACTS, sub.contract_id, select=m.CONTRACT_SELECT))
    return coterm(replace(sub, start_date=start), contract).commitment_end_date


def seat_additions(dv: DataverseClient, subscription_id: str, exclude_change_id: str | None = None) -> tuple[SeatAddition, ...]:
    """(when, seats) of the mid-term seat additions (increases) of a subscription that took effect,
    for their own 168-hour windows (billing.newcommerce). The purchase and each renewal are covered
    by the term-start window, and the sync's New log is dated when it was found, not bought."""
    from billing.models import ChangeType, ProvisioningStatus
    from billing.newcommerce import seat_additions as additions

    rows = dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=m.CHANGE_LOG_SELECT,
                   filter=f"_cspb_subscription_value eq {subscription_id}")
    logs = [m.change_log_from_row(r) for r in rows]
    took_effect = (ProvisioningStatus.PROVISIONED, ProvisioningStatus.NOT_APPLICABLE)
    return tuple(additions(
        (datetime(c.effective_date.year, c.effective_date.month, c.effective_date.day, tzinfo=UTC),
         c.old_quantity, c.new_quantity)
        for c in logs if c.id != exclude_change_id and c.change_type is ChangeType.INCREASE
        and c.provisioning_status in took_effect and not c.archived))
