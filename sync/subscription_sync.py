"""Subscription sync, fanned out: one queue message per batch of provider accounts.

`fan_out` (timer) enqueues one small message per batch of provider accounts (setting
CSPB_SUBSCRIPTION_SYNC_BATCH, default 50) carrying the catalog's version; the worker
(`handle_message`) reads Dynamics' subscriptions of the whole batch in one paged request, takes
the catalog and price list from the per-process cache (sync.reference_cache), and runs
`sync_account` per tenant: compare the provider's subscriptions with Dynamics and collect only the
differences: the subscription row (upsert by its provider subscription id) and one
change log per changed aspect (quantity, status, term, renewal). The batch's writes
then go out together (UpsertMultiple, up to 1,000 rows a request), so a quiet run costs one read
per batch and a first import about three writes per batch. The in-process runner (CLI, demo)
drains the same messages with the same handler, so both paths make the same requests.

Drift: a difference that no change of ours explains (no Awaiting/Provisioned change log asking
for that value) was made outside CSPBridge, e.g. in the Partner Center portal. It is written
with the drift flag on the log and the drift flag + detail on the subscription, for a
person to confirm; it is never silently treated as ordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse import catalog_repo
from dataverse.catalog_repo import PriceItem
from dataverse.client import DataverseClient
from dataverse.stores import azure_transitions, change_logs, provider_accounts, subscriptions
from dataverse.stores._rows import KEEP, Keep
from dataverse.stores.change_logs import EffectiveChange, SyncChangeLog
from dataverse.stores.provider_accounts import SyncAccount
from dataverse.stores.subscriptions import (
    Entitlement,
    NewSubscription,
    SubscriptionUpdate,
    SyncedSubscription,
    WantedSubscription,
)
from dataverse.stores.subscriptions import key_segment_value as key_segment_value
from dataverse.tables import (
    ChangeOrigin,
    ChangeType,
    SubscriptionStatus,
)
from distributors.base import Adapters, DistributorAdapter, Subscription, adapter_of, provider_of
from shared.errors import IntegrationError, RetriableError, SkippableError
from shared.queue import Message, Queue
from sync import azure_plan, runs
from sync.records import parse_dt
from sync.reference_cache import ReferenceCache

# A commitment end that moves forward by at least this much is a new term (the shortest, P1M in
# February, is 28 days); a smaller move is the provider correcting a date, not a renewal.
RENEWAL_MIN_DAYS = 27


@dataclass
class AccountSyncResult:
    provider_account_id: str
    subscriptions_seen: int = 0
    created: int = 0
    updated: int = 0
    change_logs: int = 0
    drift: int = 0
    entitlements: int = 0
    skipped: int = 0  # provider records that could not be read (SkippableError), named in errors
    errors: list[str] = field(default_factory=list)

    def add(self, other: AccountSyncResult) -> None:
        """Another account's counts and errors into these (a message's totals)."""
        self.subscriptions_seen += other.subscriptions_seen
        self.created += other.created
        self.updated += other.updated
        self.change_logs += other.change_logs
        self.drift += other.drift
        self.entitlements += other.entitlements
        self.skipped += other.skipped
        self.errors.extend(other.errors)

    def counts(self) -> dict[str, int]:
        return {"seen": self.subscriptions_seen, "created": self.created, "updated": self.updated,
                "changeLogs": self.change_logs, "drift": self.drift,
                "entitlements": self.entitlements, "skipped": self.skipped}


@dataclass(frozen=True)
class AccountRef:
    """A provider account as a fan-out message carries it; `currency` is the one it is billed in."""

    id: str
    provider: int | None
    external_id: str | None
    currency: str

    @classmethod
    def of(cls, account: SyncAccount) -> AccountRef:
        return cls(account.id, account.provider, account.external_id,
                   account.currency or _currency_of(account.country))

    @classmethod
    def from_message(cls, ref: Mapping[str, Any]) -> AccountRef:
        provider = provider_of(ref.get("provider"))
        return cls(str(ref["providerAccountId"]), int(provider) if provider is not None else None,
                   ref.get("externalId"), str(ref.get("currency") or ""))

    def message(self) -> dict[str, Any]:
        return {"providerAccountId": self.id, "provider": self.provider, "externalId": self.external_id,
                "currency": self.currency}


def batch_size() -> int:
    from shared.config import get_settings

    return max(1, int(get_settings().subscription_sync_batch))


def fan_out(dv: DataverseClient, queue: Queue, *, run_key: str | None = None,
            progress: runs.Progress = runs.no_progress, run: runs.SyncRun | None = None,
            size: int | None = None) -> dict[str, Any]:
    """Timer side: one message per batch of provider accounts (in tenant order, so a timer that fires
    twice for the same run key builds the same batches and, the message ids carrying the run key,
    enqueues nothing new). Finishes the run row unless the caller passed its own `run` (the CLI
    finishes it after draining)."""
    from sync.reference_cache import catalog_version

    own_run = run is None
    run = run or runs.start(dv, "subscriptions", run_key)
    accounts = provider_accounts.fan_out_rows(dv)
    version = catalog_version(dv) if accounts else ""
    size = size or batch_size()
    for start in range(0, len(accounts), size):
        chunk = accounts[start:start + size]
        message = {"runKey": run.run_key, "catalogVersion": version,
                   "accounts": [AccountRef.of(a).message() for a in chunk]}
        if queue.send(message, message_id=f"subsync:{run.run_key}:{chunk[0].id}:{len(chunk)}"):
            run.bump("enqueued", len(chunk))
        progress(len(chunk))
    if own_run:
        runs.finish(run)
    return run.as_dict()


@dataclass
class Snapshot:
    """Dynamics' side of one message: its accounts' subscriptions (one paged read instead of one per
    account), the catalog's products and its price list items."""

    by_account: dict[str, list[SyncedSubscription]]
    products: dict[str, str]
    prices: dict[str, PriceItem]

    @classmethod
    def for_accounts(cls, dv: DataverseClient, account_ids: Iterable[str], *, catalog_version: str | None,
                     cache: ReferenceCache | None = None) -> Snapshot:
        """One queue message's view: its accounts' subscriptions in one paged read, the catalog and
        price list from the per-process cache (reloaded only when `catalog_version` is newer)."""
        from sync.reference_cache import PROCESS_CACHE

        ids = list(dict.fromkeys(account_ids))
        by_account: dict[str, list[SyncedSubscription]] = {i: [] for i in ids}
        if ids:
            for sub in subscriptions.sync_rows(dv, ids):
                by_account.setdefault(sub.provider_account_id or "", []).append(sub)
        products, prices = (cache or PROCESS_CACHE).get(dv, catalog_version, products=catalog_repo.product_ids,
                                                        prices=catalog_repo.price_items)
        return cls(by_account, products, prices)


def catalog_price(prices: Mapping[str, PriceItem], want: WantedSubscription, currency: str,
                  ) -> tuple[Decimal | None, Decimal | None, str] | None:
    """The price list item a newly found subscription starts at, as (amount, cost, currency): its
    currency's price list (else the USD one), its product, and the unit for its term and billing."""
    from billing import catalog_pricing as cp
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    cycle = FREQUENCY_TO_BILLING_CYCLE.get(want.billing_frequency or "")
    if not cycle or not want.product_id or not want.sku_id or not want.term:
        return None
    number = cp.product_number(want.product_id, want.sku_id)
    unit = cp.unit_name(want.term, cycle)
    for code in dict.fromkeys((currency.upper(), cp.pricing_currency(currency), cp.FALLBACK_CURRENCY)):
        found = prices.get(cp.price_key(cp.price_list_name(code), number, unit))
        if found is not None:
            amount = found.amount
            if found.tiers and amount is not None:
                # A tiered item: the subscription's quantity picks its tier (billing.catalog_pricing).
                amount = cp.unit_price_for_quantity(amount, found.tiers, want.quantity)
            return amount, found.cost, code
    return None


def run_subscription_sync(dv: DataverseClient, adapters: Adapters, *, queue: Queue | None = None,
                          run_key: str | None = None, progress: runs.Progress = runs.no_progress,
                          now: datetime | None = None, workers: int = 1) -> dict[str, Any]:
    """The whole job in one process (CLI, demo, bench): fan out, drain the queue (with `workers`
    threads standing in for Function instances) through the same handler the Functions worker
    runs, so both paths make the same Dataverse requests; total the counts."""
    import threading

    from shared.queue import InProcessQueue, drain

    queue = queue if queue is not None else InProcessQueue("subscription-sync")  # an empty queue is falsy
    run = runs.start(dv, "subscriptions", run_key)
    fan_out(dv, queue, run=run)

    lock = threading.Lock()

    def handle(message: Message) -> None:
        outcome = handle_message(message.body, dv=dv, adapters=adapters, now=now)
        with lock:
            if outcome is not None:
                for name, value in outcome.counts().items():
                    run.bump(name, value)
                for error in outcome.errors:
                    run.error(error)
            progress(len(message.body.get("accounts") or [message.body]))

    drained = drain(queue, handle, workers=workers)
    if drained.dead_lettered:
        run.error(f"{drained.dead_lettered} provider account(s) failed after retries (see the dead-letter queue)")
    runs.finish(run)
    return run.as_dict()


def _currency_of(country: str | None) -> str:
    from billing.currency import currency_for_country

    return currency_for_country(country)


def _status_code(label: str) -> int:
    try:
        return int(SubscriptionStatus[label.strip().upper()])
    except KeyError:
        return int(SubscriptionStatus.PENDING)


def _same_day(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.date() == b.date()


class PendingChanges:
    """Our own change logs per subscription (Awaiting, or Provisioned with the write-back lost),
    read only for subscriptions that differ, so a quiet account costs no extra request."""

    def __init__(self, dv: DataverseClient) -> None:
        self.dv = dv
        self._cache: dict[str, list[EffectiveChange]] = {}

    def for_subscription(self, sub_id: str) -> list[EffectiveChange]:
        if sub_id not in self._cache:
            self._cache[sub_id] = change_logs.own_changes(self.dv, sub_id)
        return self._cache[sub_id]

    def explains(self, sub_id: str, quantity: int | None, cancelled: bool, activated: bool = False) -> bool:
        for log in self.for_subscription(sub_id):
            if cancelled and log.change_type == ChangeType.CANCEL:
                return True
            # An order of ours left the subscription Pending (e.g. Pax8 PendingManual); the provider
            # finishing it is the order completing, not drift.
            if activated and log.change_type == ChangeType.NEW:
                return True
            if quantity is not None and log.new_quantity == quantity:
                return True
        return False


@dataclass
class Writes:
    """What a message writes, collected over all its accounts and sent together: a first import of
    50 tenants is three UpsertMultiple requests instead of 100-150."""

    new_rows: list[NewSubscription] = field(default_factory=list)
    logs: list[SyncChangeLog] = field(default_factory=list)
    changed_rows: list[SubscriptionUpdate] = field(default_factory=list)
    entitlements: list[Entitlement] = field(default_factory=list)

    def merge(self, other: Writes) -> None:
        self.new_rows.extend(other.new_rows)
        self.logs.extend(other.logs)
        self.changed_rows.extend(other.changed_rows)
        self.entitlements.extend(other.entitlements)

    def flush(self, dv: DataverseClient) -> None:
        """Send the collected rows (dataverse.stores.subscriptions.write_sync_batch: each subscription
        with its change logs in one changeset), then forget them."""
        subscriptions.write_sync_batch(dv, self.new_rows, self.logs, self.changed_rows, self.entitlements)
        for rows in (self.new_rows, self.logs, self.changed_rows, self.entitlements):
            rows.clear()


def sync_account(dv: DataverseClient, adapter: DistributorAdapter, account: AccountRef, *, run_key: str,
                 now: datetime | None = None, snapshot: Snapshot | None = None,
                 writes: Writes | None = None) -> AccountSyncResult:
    """Worker side: one provider account. Idempotent for a given run key (change log keys include it).
    With `writes`, the rows are collected there for the caller to flush; without, written now."""
    now = now or datetime.now(UTC)
    provider = int(account.provider or 0)
    result = AccountSyncResult(account.id)
    remote = list(adapter.list_subscriptions(account.external_id))
    result.subscriptions_seen = len(remote)
    held = snapshot.by_account.get(account.id, []) if snapshot is not None else subscriptions.sync_rows(
        dv, [account.id], with_account=False)
    local = {s.provider_subscription_id: s for s in held if s.provider_subscription_id}
    pending = PendingChanges(dv)
    products: Mapping[str, str]
    prices: Mapping[str, PriceItem]
    if snapshot is not None:
        products, prices = snapshot.products, snapshot.prices
    elif any(s.id not in local for s in remote):
        products, prices = catalog_repo.product_ids(dv), catalog_repo.price_items(dv)
    else:
        products, prices = {}, {}
    price_list = PriceList(dv, prices if snapshot is not None else None)
    # Collected here and handed to `writes` once the whole account compared: an account that fails
    # half-way writes none of its subscriptions.
    found = Writes()
    unreadable: list[Subscription] = []
    for sub in remote:
        have = local.get(sub.id)
        try:
            want = _wanted(sub, provider, account.id)
        except SkippableError as exc:
            # Singer-style: one unreadable record is skipped and counted; the rest of the tenant syncs.
            result.skipped += 1
            result.errors.append(f"{account.external_id}: skipped {exc.message}")
            unreadable.append(sub)
            continue
        if have is None:
            # The first sync of a tenant imports what it already has; after that, a subscription
            # nobody ordered through CSPBridge is drift.
            drift = bool(local)
            found.new_rows.append(_new_subscription(sub, want, drift, products, prices, account.currency))
            found.logs.append(_log(run_key, sub.id, None, ChangeType.NEW, None, want.quantity, now, drift=drift,
                                 detail="" if drift else "initial import"))
            result.created += 1
            result.drift += int(drift)
            result.change_logs += 1
            continue
        update, logs, drift_notes = _compare(have, want, run_key, now, pending, price_list)
        if drift_notes:
            update = replace(update, drift_detail="; ".join(drift_notes))
            result.drift += 1
        if update.changes_anything():
            found.changed_rows.append(update)
            result.updated += 1
        found.logs.extend(logs)
        result.change_logs += len(logs)
    out = Writes() if writes is None else writes
    out.merge(found)
    readable = [s for s in remote if not any(s is bad for bad in unreadable)]
    _sync_entitlements(adapter, account, readable, local, result, out)
    if writes is None:
        out.flush(dv)
    return result


def _new_subscription(sub: Subscription, want: WantedSubscription, drift: bool, products: Mapping[str, str],
                      prices: Mapping[str, PriceItem], account_currency: str | None) -> NewSubscription:
    """A subscription found at the provider, at today's catalog price (after that only a renewal changes it)."""
    kind, needs_transition = azure_plan.classify(sub)
    # The account's billing currency when the provider names none.
    priced = catalog_price(prices, want, want.currency or account_currency or "USD")
    unit_price: Decimal | None | Keep = KEEP
    if priced is not None:
        unit_price = priced[0]
        want = replace(want, unit_cost=want.unit_cost if want.unit_cost is not None else priced[1],
                       currency=priced[2])
    return NewSubscription(
        wanted=want, name=(sub.product_name or sub.product_id or sub.id)[:100], kind=kind,
        needs_transition=needs_transition,
        drift_detail="bought outside CSPBridge: found at the provider by the subscription sync" if drift else None,
        product_ref=products.get(f"{want.product_id}:{want.sku_id}"), unit_price=unit_price)


def _sync_entitlements(adapter: DistributorAdapter, account: AccountRef, remote: list[Subscription],
                       local: Mapping[str, SyncedSubscription], result: AccountSyncResult, out: Writes) -> None:
    """Azure subscriptions under the customer's Azure plan become AzureEntitlement rows with the plan as parent."""
    plans = [s for s in remote if azure_plan.is_azure_plan(s.product_id) and s.status == "Active"]
    if not plans or not adapter.lists_azure_entitlements:
        return
    for plan in plans:
        # A plan found this run is not written yet: its entitlements bind to it by alternate key.
        held = local.get(plan.id)
        wanted = azure_plan.entitlement_rows(plan.id, held.id if held is not None else None, int(account.provider or 0),
                                             adapter.list_azure_entitlements(account.external_id or "", plan.id),
                                             account.id)
        writes = [w for w in wanted if _status_of(local.get(w.provider_subscription_id)) != w.status]
        out.entitlements.extend(writes)
        result.entitlements += len(writes)


def _status_of(sub: SyncedSubscription | None) -> int | None:
    return sub.status if sub is not None else None


def _wanted(sub: Subscription, provider: int, account_id: str) -> WantedSubscription:
    """Raises SkippableError for a record the provider sent without an id or with a quantity that
    is not a whole number of seats (nothing to compare or write for it)."""
    if not sub.id:
        raise SkippableError(f"a subscription without an id ({sub.product_id or ''})")
    raw: object = sub.quantity  # as the provider sent it: adapters pass what the wire said
    if isinstance(raw, int) and not isinstance(raw, bool):
        quantity: int | None = raw
    elif isinstance(raw, float) and raw.is_integer():
        quantity = int(raw)
    elif isinstance(raw, str) and raw.strip().isdigit():
        quantity = int(raw)
    else:
        quantity = None
    if quantity is None or quantity < 0:
        raise SkippableError(f"subscription {sub.id}: quantity {raw!r} is not a whole number of seats")
    parts = (sub.product_id or "").split(":")
    product_id = parts[0]
    sku = parts[1] if len(parts) > 1 else ""
    availability = sub.availability_id or (parts[2] if len(parts) > 2 else "")
    return WantedSubscription(
        provider_subscription_id=sub.id, provider=provider, provider_account_id=account_id,
        product_id=product_id or None, sku_id=(sub.sku or sku) or None, availability_id=availability or None,
        quantity=quantity, status=_status_code(sub.status), term=sub.commitment_term or sub.billing_term,
        billing_frequency=sub.billing_term, start_date=parse_dt(sub.start_date),
        commitment_end=parse_dt(sub.commitment_end_date), auto_renew=sub.auto_renew,
        unit_cost=parse_decimal(sub.unit_cost) if sub.unit_cost is not None else None,
        currency=sub.currency or None, order_id=sub.order_id or None)


def _compare(have: SyncedSubscription, want: WantedSubscription, run_key: str, now: datetime,
             pending: PendingChanges, prices: PriceList | None = None,
             ) -> tuple[SubscriptionUpdate, list[SyncChangeLog], list[str]]:
    """What differs between Dynamics' subscription and the provider's: the update, its change logs and
    the drift notes (changes nobody ordered through CSPBridge)."""
    provider_sub_id = want.provider_subscription_id
    logs: list[SyncChangeLog] = []
    notes: list[str] = []
    quantity: int | None = None
    status: int | None = None
    term: str | None | Keep = KEEP
    frequency: str | None | Keep = KEEP
    commitment_end: datetime | None | Keep = KEEP
    unit_price: Decimal | None = None
    auto_renew: bool | None = None
    old_q, new_q = have.quantity, want.quantity
    if old_q != new_q:
        quantity = new_q
        drift = not pending.explains(have.id, new_q, cancelled=False)
        kind = ChangeType.INCREASE if (old_q or 0) < new_q else ChangeType.DECREASE
        logs.append(_log(run_key, provider_sub_id, have.id, kind, old_q, new_q, now, drift=drift))
        if drift:
            notes.append(f"quantity {old_q} -> {new_q} at the provider, not ordered through CSPBridge")
    if have.status != want.status:
        status = want.status
        cancelled = want.status == SubscriptionStatus.CANCELLED
        activated = have.status == SubscriptionStatus.PENDING and want.status == SubscriptionStatus.ACTIVE
        drift = not pending.explains(have.id, None, cancelled=cancelled, activated=activated)
        kind = ChangeType.CANCEL if cancelled else ChangeType.STATUS_CHANGE
        logs.append(_log(run_key, provider_sub_id, have.id, kind, old_q, new_q, now, drift=drift,
                         detail=f"status {have.status}->{want.status}"))
        if drift:
            notes.append(f"status {_label(have.status)} -> {_label(want.status)} at the provider")
    if have.term != want.term or have.billing_frequency != want.billing_frequency:
        term, frequency = want.term, want.billing_frequency
        logs.append(_log(run_key, provider_sub_id, have.id, ChangeType.TERM_CHANGE, old_q, new_q, now, drift=True,
                         detail=f"term {have.term}/{have.billing_frequency}->{want.term}/{want.billing_frequency}"))
        notes.append(f"term {have.term}/{have.billing_frequency} -> {want.term}/{want.billing_frequency} "
                     f"at the provider")
    old_end, new_end = have.commitment_end, want.commitment_end
    if not _same_day(old_end, new_end):
        commitment_end = new_end
        # A first-time fill (e.g. the sync after an order) is the provider telling us the term end,
        # and a backward or small move is a correction (a cancel ends the term): neither is a renewal.
        if old_end is not None and is_renewal(old_end, new_end):
            log, new_price = renewal(have, want, old_end.date() + timedelta(days=1), prices)
            unit_price = new_price
            logs.append(log)
    if want.auto_renew is not None and have.auto_renew != want.auto_renew:
        auto_renew = want.auto_renew
        detail = f"auto-renew {_on_off(have.auto_renew)} -> {_on_off(want.auto_renew)} at the provider"
        at = next((i for i, log in enumerate(logs) if log.change_type == ChangeType.STATUS_CHANGE), None)
        if at is not None:
            earlier = logs[at].error if isinstance(logs[at].error, str) else ""
            logs[at] = replace(logs[at], error=f"{earlier}; {detail}".strip("; "))
        else:
            logs.append(_log(run_key, provider_sub_id, have.id, ChangeType.STATUS_CHANGE, old_q, old_q, now,
                             drift=False, detail=detail))
    update = SubscriptionUpdate(provider_sub_id, quantity=quantity, status=status, term=term,
                                billing_frequency=frequency, commitment_end=commitment_end, unit_price=unit_price,
                                auto_renew=auto_renew)
    return update, logs, notes


def is_renewal(old_end: datetime, new_end: datetime | None) -> bool:
    """The provider started a new term: the commitment end moved forward by (at least) a term."""
    return new_end is not None and (new_end.date() - old_end.date()).days >= RENEWAL_MIN_DAYS


def renewal_change_key(provider_sub_id: str, effective: date) -> str:
    """The same key billing's apply_renewals (jobs.contracts, billing.renewals) writes for a
    renewal, so whichever of the two sees the renewal first writes it and the other finds it done."""
    return f"{provider_sub_id}|renew|{effective.isoformat()}"


class PriceList:
    """Price list amounts by price key (the catalog sync's price list item key): the run's
    snapshot when there is one, else read per key on demand (renewals are rare)."""

    def __init__(self, dv: DataverseClient | None, known: Mapping[str, PriceItem] | None = None) -> None:
        self.dv = dv
        self.known = known
        self._read: dict[str, PriceItem | None] = {}

    def amount(self, key: str, quantity: int | None = None) -> Decimal | None:
        """The item's price; for a tiered item and a `quantity`, the price of that quantity's tier."""
        from billing.catalog_pricing import unit_price_for_quantity

        if self.known is not None:
            found = self.known.get(key)
        else:
            if key not in self._read:
                assert self.dv is not None, "a price list without known prices reads them"
                self._read[key] = catalog_repo.price_item(self.dv, key)
            found = self._read[key]
        if found is None or found.amount is None:
            return None
        if found.tiers and quantity is not None:
            return unit_price_for_quantity(found.amount, found.tiers, quantity)
        return found.amount


def renewal_price_key(sub: SyncedSubscription | WantedSubscription, currency: str) -> str | None:
    """The price list item a renewed term is priced from, keyed as billing keys it
    (billing.contract_assignment.subscription_price_key): currency, product:sku, term + billing plan."""
    from billing import catalog_pricing as cp
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    if not currency or not sub.product_id or not sub.sku_id:
        return None
    frequency = sub.billing_frequency or ""
    return cp.price_key(cp.price_list_name(currency), cp.product_number(sub.product_id, sub.sku_id),
                        cp.unit_name(sub.term or frequency, FREQUENCY_TO_BILLING_CYCLE.get(frequency, "monthly")))


def renewal(have: SyncedSubscription, want: WantedSubscription, effective: date,
            prices: PriceList | None) -> tuple[SyncChangeLog, Decimal | None]:
    """The Renew change log (same shape and key as billing's) and the new unit price, if the price
    list's current price differs: a subscription keeps its price for the term, the new term takes
    today's list price from the renewal date on."""
    quantity = have.quantity
    key = renewal_change_key(want.provider_subscription_id, effective)
    log = SyncChangeLog(
        key=key, name=f"Renew {key}"[:100], provider_subscription_id=want.provider_subscription_id,
        subscription_id=have.id, change_type=int(ChangeType.RENEW), old_quantity=quantity, new_quantity=quantity,
        effective=datetime(effective.year, effective.month, effective.day, tzinfo=UTC),
        origin=int(ChangeOrigin.RENEWAL), is_drift=False)
    price_key = renewal_price_key(want, (have.currency or "").upper())
    new_price = prices.amount(price_key, int(quantity or 0)) if prices is not None and price_key else None
    old_price = have.unit_price
    if new_price is None or new_price == old_price:
        return log, None
    return replace(log, old_price=old_price, new_price=new_price), new_price


def _on_off(value: bool | None) -> str:
    return "on" if value else "off"


def _label(code: int | None) -> str:
    if code is None:
        return str(code)
    try:
        return SubscriptionStatus(code).name.title()
    except ValueError:
        return str(code)


def _log(run_key: str, provider_sub_id: str, subscription_id: str | None, kind: ChangeType, old_q: int | None,
         new_q: int | None, now: datetime, *, drift: bool, detail: str = "") -> SyncChangeLog:
    return SyncChangeLog(
        key=f"sync|{run_key}|{provider_sub_id}|{int(kind)}", name=f"{kind.name.title()} {provider_sub_id}"[:100],
        provider_subscription_id=provider_sub_id, subscription_id=subscription_id, change_type=int(kind),
        old_quantity=old_q, new_quantity=new_q, effective=now, origin=int(ChangeOrigin.PROVIDER_SYNC),
        is_drift=drift, error=detail or None)


def handle_message(body: Mapping[str, Any], *, dv: DataverseClient | None = None, adapters: Adapters | None = None,
                   now: datetime | None = None, snapshot: Snapshot | None = None,
                   cache: ReferenceCache | None = None) -> AccountSyncResult | None:
    """One fan-out message: a batch of provider accounts (or, from before batching, one). Reads the
    batch's subscriptions once, compares each account, then writes the whole batch's differences.
    RetriableError escapes (the queue re-delivers the batch; every write is an idempotent upsert and
    change log keys carry the run key); anything else is recorded on the result's errors for that
    account and the others go on. Returns the batch's totals."""
    from dataverse.client import client_or_default

    dv = client_or_default(dv)
    if adapters is None:
        from sync.provisioning import default_adapters

        adapters = default_adapters()
    refs = [AccountRef.from_message(r) for r in body.get("accounts") or [body]]
    usable = [r for r in refs if r.provider is not None and adapter_of(adapters, r.provider) is not None]
    if not usable:
        return None
    run_key = str(body["runKey"])
    if snapshot is None:
        snapshot = Snapshot.for_accounts(dv, [r.id for r in usable], catalog_version=body.get("catalogVersion"),
                                         cache=cache)
    total = AccountSyncResult(usable[0].id if len(usable) == 1 else f"{len(usable)} accounts")
    per_account: list[tuple[AccountRef, Writes]] = []
    for ref in usable:
        writes = Writes()
        try:
            adapter = adapter_of(adapters, int(ref.provider or 0))
            assert adapter is not None  # `usable` holds only accounts with an adapter
            one = sync_account(dv, adapter, ref, run_key=run_key, now=now, snapshot=snapshot, writes=writes)
        except RetriableError:
            raise
        except IntegrationError as exc:
            # What was compared before the failure (e.g. the entitlements call) is still right to write.
            total.errors.append(f"{ref.external_id}: {exc}")
            per_account.append((ref, writes))
            continue
        total.add(one)
        per_account.append((ref, writes))
    _flush_batch(dv, per_account, total)
    try:
        # After the writes: a plan bought or found this run moves its customer's legacy Azure on.
        # Only batches holding a legacy Azure subscription still in transition pay for the read.
        held = [s for subs in snapshot.by_account.values() for s in subs]
        found = [n for _, writes in per_account for n in writes.new_rows]
        if azure_transitions.any_in_transition([*held, *found]):
            azure_transitions.advance_accounts(dv, [r.id for r in usable], now or datetime.now(UTC))
    except RetriableError:
        raise
    except IntegrationError as exc:
        total.errors.append(f"legacy Azure transitions: {exc}")
    return total


def _flush_batch(dv: DataverseClient, per_account: list[tuple[AccountRef, Writes]], total: AccountSyncResult) -> None:
    """All accounts' writes together; if Dataverse refuses a row (not a transient failure), account
    by account, so one tenant's bad row costs that tenant, not the 49 others in its message."""
    together = Writes()
    for _, writes in per_account:
        together.merge(writes)
    try:
        together.flush(dv)
        return
    except RetriableError:
        raise
    except IntegrationError as exc:
        if len(per_account) == 1:
            total.errors.append(f"{per_account[0][0].external_id}: {exc}")
            return
    for ref, writes in per_account:
        try:
            writes.flush(dv)
        except RetriableError:
            raise
        except IntegrationError as exc:
            total.errors.append(f"{ref.external_id}: {exc}")
