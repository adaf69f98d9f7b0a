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
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse import catalog_repo
from dataverse.stores import azure_transitions, change_logs, provider_accounts, subscriptions
from dataverse.stores.change_logs import Col as L
from dataverse.stores.change_logs import EffectiveChange
from dataverse.stores.provider_accounts import Col as A
from dataverse.stores.subscriptions import Col as S
from dataverse.stores.subscriptions import key_segment_value as key_segment_value
from dataverse.tables import (
    ChangeOrigin,
    ChangeType,
    ProvisioningStatus,
    SubscriptionStatus,
)
from distributors.base import Adapters, DistributorAdapter, adapter_of
from shared.errors import IntegrationError, RetriableError, SkippableError
from shared.queue import Queue
from sync import azure_plan, runs
from sync.records import iso, parse_dt

SUB_COLUMNS = subscriptions.SYNC_COLUMNS

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

    def counts(self) -> dict[str, int]:
        return {"seen": self.subscriptions_seen, "created": self.created, "updated": self.updated,
                "changeLogs": self.change_logs, "drift": self.drift,
                "entitlements": self.entitlements, "skipped": self.skipped}


def _account_ref(account: Mapping[str, Any]) -> dict[str, Any]:
    return {"providerAccountId": account[A.ID], "provider": account[A.PROVIDER],
            "externalId": account[A.EXTERNAL_ID],
            "currency": account.get(A.CURRENCY) or _currency_of(account.get(A.COUNTRY))}


def batch_size() -> int:
    from shared.config import get_settings

    return max(1, int(get_settings().subscription_sync_batch))


def fan_out(dv: Any, queue: Queue, *, run_key: str | None = None, progress: runs.Progress = runs.no_progress,
            run: runs.SyncRun | None = None, size: int | None = None) -> dict[str, Any]:
    """Timer side: one message per batch of provider accounts (in id order, so a timer that fires
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
        message = {"runKey": run.run_key, "catalogVersion": version, "accounts": [_account_ref(a) for a in chunk]}
        if queue.send(message, message_id=f"subsync:{run.run_key}:{chunk[0][A.ID]}:{len(chunk)}"):
            run.bump("enqueued", len(chunk))
        progress(len(chunk))
    if own_run:
        runs.finish(run)
    return run.as_dict()


@dataclass
class Snapshot:
    """Dynamics' side read once for the whole run (one paged read instead of one per account),
    for the in-process runner where every worker shares memory. Functions workers read their own."""

    by_account: dict[str, list[dict[str, Any]]]
    products: dict[str, str]
    prices: dict[str, tuple[Any, Any]]

    @classmethod
    def load(cls, dv: Any) -> Snapshot:
        by_account: dict[str, list[dict[str, Any]]] = {}
        for row in subscriptions.sync_rows(dv):
            by_account.setdefault(row.get(S.PROVIDER_ACCOUNT) or "", []).append(row)
        return cls(by_account, _product_ids(dv, []), _prices(dv))

    @classmethod
    def for_accounts(cls, dv: Any, account_ids: Iterable[str], *, catalog_version: str | None,
                     cache: Any = None) -> Snapshot:
        """One queue message's view: its accounts' subscriptions in one paged read, the catalog and
        price list from the per-process cache (reloaded only when `catalog_version` is newer)."""
        from sync.reference_cache import PROCESS_CACHE

        ids = list(dict.fromkeys(account_ids))
        by_account: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for row in subscriptions.sync_rows(dv, ids):
                by_account.setdefault(row.get(S.PROVIDER_ACCOUNT) or "", []).append(row)
        products, prices = (cache or PROCESS_CACHE).get(dv, catalog_version, products=lambda d: _product_ids(d, []),
                                                        prices=_prices)
        return cls(by_account, products, prices)


def _prices(dv: Any) -> dict[str, tuple[Any, ...]]:
    """Catalog price list items by key (price list|product|unit) -> (amount, cost, volume tiers or None)."""
    return catalog_repo.price_items(dv)


def catalog_price(prices: Mapping[str, tuple[Any, Any]], want: Mapping[str, Any], currency: str,
                  ) -> tuple[Any, Any, str] | None:
    """The price list item a newly found subscription starts at, as (amount, cost, currency): its
    currency's price list (else the USD one), its product, and the unit for its term and billing."""
    from billing import catalog_pricing as cp
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    cycle = FREQUENCY_TO_BILLING_CYCLE.get(want.get(S.BILLING_FREQUENCY) or "")
    if not cycle or not want.get(S.PRODUCT_ID) or not want.get(S.SKU_ID) or not want.get(S.TERM):
        return None
    number = cp.product_number(want[S.PRODUCT_ID], want[S.SKU_ID])
    unit = cp.unit_name(want[S.TERM], cycle)
    for code in dict.fromkeys((currency.upper(), cp.pricing_currency(currency), cp.FALLBACK_CURRENCY)):
        found = prices.get(cp.price_key(cp.price_list_name(code), number, unit))
        if found is not None:
            amount = found[0]
            if len(found) > 2 and found[2] and amount is not None:
                # A tiered item: the subscription's quantity picks its tier (billing.catalog_pricing).
                amount = cp.unit_price_for_quantity(parse_decimal(amount), found[2], int(want.get(S.QUANTITY) or 0))
            return amount, found[1], code
    return None


def run_subscription_sync(dv: Any, adapters: Adapters, *, queue: Queue | None = None,
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

    def handle(message: Any) -> None:
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


def _date_iso(value: Any) -> str | None:
    return iso(parse_dt(value)) if value is not None else None


def _same_instant(a: Any, b: Any) -> bool:
    da, db = parse_dt(a), parse_dt(b)
    if da is None or db is None:
        return da is db
    return da.date() == db.date()


class PendingChanges:
    """Our own change logs per subscription (Awaiting, or Provisioned with the write-back lost),
    read only for subscriptions that differ, so a quiet account costs no extra request."""

    def __init__(self, dv: Any) -> None:
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

    new_rows: list[dict[str, Any]] = field(default_factory=list)
    logs: list[dict[str, Any]] = field(default_factory=list)
    changed_rows: list[dict[str, Any]] = field(default_factory=list)
    entitlements: list[dict[str, Any]] = field(default_factory=list)

    def merge(self, other: Writes) -> None:
        for name in ("new_rows", "logs", "changed_rows", "entitlements"):
            getattr(self, name).extend(getattr(other, name))

    def flush(self, dv: Any) -> None:
        """Send the collected rows (dataverse.stores.subscriptions.write_sync_batch: each subscription
        with its change logs in one changeset), then forget them."""
        subscriptions.write_sync_batch(dv, self.new_rows, self.logs, self.changed_rows, self.entitlements,
                                       pair="_pair")
        for name in ("new_rows", "logs", "changed_rows", "entitlements"):
            getattr(self, name).clear()


def sync_account(dv: Any, adapter: DistributorAdapter, provider_account: Mapping[str, Any], *, run_key: str,
                 now: datetime | None = None, snapshot: Snapshot | None = None,
                 writes: Writes | None = None) -> AccountSyncResult:
    """Worker side: one provider account. Idempotent for a given run key (change log keys include it).
    With `writes`, the rows are collected there for the caller to flush; without, written now."""
    now = now or datetime.now(UTC)
    account_id = provider_account[A.ID]
    provider = int(provider_account[A.PROVIDER])
    result = AccountSyncResult(account_id)
    remote = list(adapter.list_subscriptions(provider_account[A.EXTERNAL_ID]))
    result.subscriptions_seen = len(remote)
    rows = snapshot.by_account.get(account_id, []) if snapshot is not None else subscriptions.sync_rows(
        dv, [account_id], with_account=False)
    local = {s[S.PROVIDER_SUBSCRIPTION_ID]: s for s in rows if s.get(S.PROVIDER_SUBSCRIPTION_ID)}
    pending = PendingChanges(dv)
    if snapshot is not None:
        products, prices = snapshot.products, snapshot.prices
    elif any(s.id not in local for s in remote):
        products, prices = _product_ids(dv, remote), _prices(dv)
    else:
        products, prices = {}, {}
    price_list = PriceList(dv, prices if snapshot is not None else None)
    sub_writes: list[dict[str, Any]] = []
    log_writes: list[dict[str, Any]] = []
    unreadable: list[Any] = []
    for sub in remote:
        have = local.get(sub.id)
        try:
            want = _wanted_row(sub, provider, account_id)
        except SkippableError as exc:
            # Singer-style: one unreadable record is skipped and counted; the rest of the tenant syncs.
            result.skipped += 1
            result.errors.append(f"{provider_account[A.EXTERNAL_ID]}: skipped {exc.message}")
            unreadable.append(sub)
            continue
        if have is None:
            # The first sync of a tenant imports what it already has; after that, a subscription
            # nobody ordered through CSPBridge is drift.
            drift = bool(local)
            kind, needs_transition = azure_plan.classify(sub)
            row = {**want, S.KIND: kind, S.NEEDS_TRANSITION: needs_transition, S.DRIFT_FLAG: drift,
                   S.DRIFT_DETAIL: ("bought outside CSPBridge: found at the provider by the subscription sync"
                                        if drift else None),
                   S.NAME: (sub.product_name or sub.product_id or sub.id)[:100]}
            product_key = f"{want.get(S.PRODUCT_ID)}:{want.get(S.SKU_ID)}"
            if product_key in products:
                row[S.PRODUCT_BIND] = subscriptions.bind_product(products[product_key])
            # A new subscription starts at today's catalog price; after that only a renewal changes it.
            currency = want.get(S.CURRENCY) or provider_account.get(A.CURRENCY) or "USD"
            priced = catalog_price(prices, want, currency)
            if priced is not None:
                row[S.UNIT_PRICE] = priced[0]
                row[S.UNIT_COST] = want.get(S.UNIT_COST) if want.get(S.UNIT_COST) is not None \
                    else priced[1]
                row[S.CURRENCY] = priced[2]
            sub_writes.append(row)
            log_writes.append(_log(run_key, sub.id, ChangeType.NEW, None, want[S.QUANTITY], now, drift=drift,
                                   detail="" if drift else "initial import"))
            result.created += 1
            result.drift += int(drift)
            continue
        changes, logs, drift_notes = _compare(have, want, sub.id, run_key, now, pending, price_list)
        if drift_notes:
            changes[S.DRIFT_FLAG] = True
            changes[S.DRIFT_DETAIL] = "; ".join(drift_notes)[:2000]
            result.drift += 1
        if changes:
            sub_writes.append({S.PROVIDER_SUBSCRIPTION_ID: sub.id, **changes})
            result.updated += 1
        log_writes.extend(logs)
    own = writes is None
    out = Writes() if writes is None else writes
    out.new_rows.extend(w for w in sub_writes if w[S.PROVIDER_SUBSCRIPTION_ID] not in local)
    out.changed_rows.extend(w for w in sub_writes if w[S.PROVIDER_SUBSCRIPTION_ID] in local)
    for log in log_writes:
        provider_sub_id = log.pop("_provider_sub_id")
        log["_pair"] = provider_sub_id  # Writes.flush sends a subscription and its logs together
        have = local.get(provider_sub_id)
        # A subscription created a moment ago is bound by its alternate key: no read-back needed.
        log[L.SUBSCRIPTION_BIND] = (subscriptions.bind_by_id(have[S.ID]) if have else
                                    subscriptions.bind_by_provider_id(provider_sub_id))
    out.logs.extend(log_writes)
    result.change_logs = len(log_writes)
    readable = [s for s in remote if not any(s is bad for bad in unreadable)]
    _sync_entitlements(dv, adapter, provider_account, readable, local, result, out)
    if own:
        out.flush(dv)
    return result


def _sync_entitlements(dv: Any, adapter: DistributorAdapter, provider_account: Mapping[str, Any], remote: list[Any],
                       local: Mapping[str, Mapping[str, Any]], result: AccountSyncResult, out: Writes) -> None:
    """Azure subscriptions under the customer's Azure plan become AzureEntitlement rows with the plan as parent."""
    plans = [s for s in remote if azure_plan.is_azure_plan(s.product_id) and s.status == "Active"]
    if not plans or not adapter.lists_azure_entitlements:
        return
    account_id = provider_account[A.ID]
    for plan in plans:
        # A plan found this run is not written yet: its entitlements bind to it by alternate key.
        plan_row = local.get(plan.id) or {S.ID: key_segment_value(plan.id)}
        plan_row = {**plan_row, S.PROVIDER: int(provider_account[A.PROVIDER])}
        wanted = azure_plan.entitlement_rows(plan_row, adapter.list_azure_entitlements(
            provider_account[A.EXTERNAL_ID], plan.id), account_id)
        writes = [w for w in wanted if (local.get(w[S.PROVIDER_SUBSCRIPTION_ID]) or {}).get(S.STATUS)
                  != w[S.STATUS]]
        out.entitlements.extend(writes)
        result.entitlements += len(writes)


def _wanted_row(sub: Any, provider: int, account_id: str) -> dict[str, Any]:
    """Raises SkippableError for a record the provider sent without an id or with a quantity that
    is not a whole number of seats (nothing to compare or write for it)."""
    if not getattr(sub, "id", None):
        raise SkippableError(f"a subscription without an id ({getattr(sub, 'product_id', '')})")
    raw = sub.quantity
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
    return {
        S.PROVIDER_SUBSCRIPTION_ID: sub.id,
        S.PROVIDER: provider,
        S.PROVIDER_ACCOUNT_BIND: subscriptions.bind_provider_account(account_id),
        S.PRODUCT_ID: product_id or None,
        S.SKU_ID: (sub.sku or sku) or None,
        S.AVAILABILITY_ID: availability or None,
        S.QUANTITY: quantity,
        S.STATUS: _status_code(sub.status),
        S.TERM: sub.commitment_term or sub.billing_term,
        S.BILLING_FREQUENCY: sub.billing_term,
        S.START_DATE: _date_iso(sub.start_date),
        S.COMMITMENT_END: _date_iso(sub.commitment_end_date),
        S.AUTO_RENEW: sub.auto_renew,
        S.UNIT_COST: parse_decimal(sub.unit_cost) if sub.unit_cost is not None else None,
        S.CURRENCY: sub.currency or None,
        S.ORDER_ID: sub.order_id or None,
    }


def _compare(have: Mapping[str, Any], want: Mapping[str, Any], provider_sub_id: str, run_key: str, now: datetime,
             pending: PendingChanges, prices: PriceList | None = None,
             ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    changes: dict[str, Any] = {}
    logs: list[dict[str, Any]] = []
    notes: list[str] = []
    local_id = have[S.ID]
    old_q, new_q = have.get(S.QUANTITY), want[S.QUANTITY]
    if old_q != new_q:
        changes[S.QUANTITY] = new_q
        drift = not pending.explains(local_id, new_q, cancelled=False)
        kind = ChangeType.INCREASE if (old_q or 0) < new_q else ChangeType.DECREASE
        logs.append(_log(run_key, provider_sub_id, kind, old_q, new_q, now, drift=drift))
        if drift:
            notes.append(f"quantity {old_q} -> {new_q} at the provider, not ordered through CSPBridge")
    if have.get(S.STATUS) != want[S.STATUS]:
        changes[S.STATUS] = want[S.STATUS]
        cancelled = want[S.STATUS] == SubscriptionStatus.CANCELLED
        activated = (have.get(S.STATUS) == SubscriptionStatus.PENDING
                     and want[S.STATUS] == SubscriptionStatus.ACTIVE)
        drift = not pending.explains(local_id, None, cancelled=cancelled, activated=activated)
        kind = ChangeType.CANCEL if cancelled else ChangeType.STATUS_CHANGE
        logs.append(_log(run_key, provider_sub_id, kind, old_q, new_q, now, drift=drift,
                         detail=f"status {have.get(S.STATUS)}->{want[S.STATUS]}"))
        if drift:
            notes.append(f"status {_label(have.get(S.STATUS))} -> {_label(want[S.STATUS])} at the provider")
    term_changed = (have.get(S.TERM) != want[S.TERM]
                    or have.get(S.BILLING_FREQUENCY) != want[S.BILLING_FREQUENCY])
    if term_changed:
        changes[S.TERM] = want[S.TERM]
        changes[S.BILLING_FREQUENCY] = want[S.BILLING_FREQUENCY]
        logs.append(_log(run_key, provider_sub_id, ChangeType.TERM_CHANGE, old_q, new_q, now, drift=True,
                         detail=f"term {have.get(S.TERM)}/{have.get(S.BILLING_FREQUENCY)}->"
                                f"{want[S.TERM]}/{want[S.BILLING_FREQUENCY]}"))
        notes.append(f"term {have.get(S.TERM)}/{have.get(S.BILLING_FREQUENCY)} -> "
                     f"{want[S.TERM]}/{want[S.BILLING_FREQUENCY]} at the provider")
    old_end, new_end = parse_dt(have.get(S.COMMITMENT_END)), parse_dt(want[S.COMMITMENT_END])
    if not _same_instant(old_end, new_end):
        changes[S.COMMITMENT_END] = want[S.COMMITMENT_END]
        # A first-time fill (e.g. the sync after an order) is the provider telling us the term end,
        # and a backward or small move is a correction (a cancel ends the term): neither is a renewal.
        if old_end is not None and is_renewal(old_end, new_end):
            log, new_price = renewal(have, want, provider_sub_id, old_end.date() + timedelta(days=1), prices)
            if new_price is not None:
                changes[S.UNIT_PRICE] = new_price
            logs.append(log)
    if want[S.AUTO_RENEW] is not None and have.get(S.AUTO_RENEW) != want[S.AUTO_RENEW]:
        changes[S.AUTO_RENEW] = want[S.AUTO_RENEW]
        detail = f"auto-renew {_on_off(have.get(S.AUTO_RENEW))} -> {_on_off(want[S.AUTO_RENEW])} at the provider"
        status_log = next((log for log in logs if log[L.CHANGE_TYPE] == ChangeType.STATUS_CHANGE), None)
        if status_log is not None:
            status_log[L.ERROR] = f"{status_log[L.ERROR] or ''}; {detail}".strip("; ")
        else:
            logs.append(_log(run_key, provider_sub_id, ChangeType.STATUS_CHANGE, old_q, old_q, now, drift=False,
                             detail=detail))
    return changes, logs, notes


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

    def __init__(self, dv: Any, known: Mapping[str, tuple[Any, ...]] | None = None) -> None:
        self.dv = dv
        self.known = known
        self._read: dict[str, Any] = {}

    def amount(self, key: str, quantity: int | None = None) -> Decimal | None:
        """The item's price; for a tiered item and a `quantity`, the price of that quantity's tier."""
        from billing.catalog_pricing import unit_price_for_quantity

        if self.known is not None:
            found = self.known.get(key)
            value = found[0] if found is not None else None
            tiers = found[2] if found is not None and len(found) > 2 else None
        else:
            if key not in self._read:
                self._read[key] = catalog_repo.price_item(self.dv, key)
            value, tiers = self._read[key]
        if value is None:
            return None
        price = parse_decimal(value)
        return unit_price_for_quantity(price, tiers, quantity) if tiers and quantity is not None else price


def renewal_price_key(want: Mapping[str, Any], currency: str) -> str | None:
    """The price list item a renewed term is priced from, keyed as billing keys it
    (billing.contract_assignment.subscription_price_key): currency, product:sku, term + billing plan."""
    from billing import catalog_pricing as cp
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    if not currency or not want.get(S.PRODUCT_ID) or not want.get(S.SKU_ID):
        return None
    frequency = want.get(S.BILLING_FREQUENCY) or ""
    return cp.price_key(cp.price_list_name(currency), cp.product_number(want[S.PRODUCT_ID], want[S.SKU_ID]),
                        cp.unit_name(want.get(S.TERM) or frequency,
                                     FREQUENCY_TO_BILLING_CYCLE.get(frequency, "monthly")))


def renewal(have: Mapping[str, Any], want: Mapping[str, Any], provider_sub_id: str, effective: date,
            prices: PriceList | None) -> tuple[dict[str, Any], Decimal | None]:
    """The Renew change log (same shape and key as billing's) and the new unit price, if the price
    list's current price differs: a subscription keeps its price for the term, the new term takes
    today's list price from the renewal date on."""
    quantity = have.get(S.QUANTITY)
    key = renewal_change_key(provider_sub_id, effective)
    log: dict[str, Any] = {
        L.KEY: key, L.NAME: f"Renew {key}"[:100], "_provider_sub_id": provider_sub_id,
        L.CHANGE_TYPE: int(ChangeType.RENEW), L.OLD_QUANTITY: quantity, L.NEW_QUANTITY: quantity,
        L.EFFECTIVE_DATE: iso(datetime(effective.year, effective.month, effective.day, tzinfo=UTC)),
        L.REQUESTED_BY: "provider sync", L.ORIGIN: int(ChangeOrigin.RENEWAL),
        L.PROVISIONING_STATUS: int(ProvisioningStatus.NOT_APPLICABLE), L.ARCHIVED: False,
        L.IS_DRIFT: False,
    }
    price_key = renewal_price_key(want, str(have.get(S.CURRENCY) or "").upper())
    new_price = prices.amount(price_key, int(quantity or 0)) if prices is not None and price_key else None
    old_price = parse_decimal(have[S.UNIT_PRICE]) if have.get(S.UNIT_PRICE) is not None else None
    if new_price is None or new_price == old_price:
        return log, None
    log[L.OLD_PRICE] = old_price
    log[L.NEW_PRICE] = new_price
    return log, new_price


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def _label(code: Any) -> str:
    try:
        return SubscriptionStatus(int(code)).name.title()
    except (TypeError, ValueError):
        return str(code)


def _log(run_key: str, provider_sub_id: str, kind: ChangeType, old_q: int | None, new_q: int | None, now: datetime,
         *, drift: bool, detail: str = "") -> dict[str, Any]:
    key = f"sync|{run_key}|{provider_sub_id}|{int(kind)}"
    return {
        L.KEY: key,
        L.NAME: f"{kind.name.title()} {provider_sub_id}"[:100],
        "_provider_sub_id": provider_sub_id,
        L.CHANGE_TYPE: int(kind),
        L.OLD_QUANTITY: old_q,
        L.NEW_QUANTITY: new_q,
        L.EFFECTIVE_DATE: iso(now),
        L.REQUESTED_BY: "provider sync",
        L.ORIGIN: int(ChangeOrigin.PROVIDER_SYNC),
        L.PROVISIONING_STATUS: int(ProvisioningStatus.NOT_APPLICABLE),
        L.IS_DRIFT: drift,
        L.ARCHIVED: False,
        L.ERROR: detail or None,
    }


def _product_ids(dv: Any, remote: Iterable[Any]) -> dict[str, str]:
    return catalog_repo.product_ids(dv)


def handle_message(body: Mapping[str, Any], *, dv: Any = None, adapters: Adapters | None = None,
                   now: datetime | None = None, snapshot: Snapshot | None = None,
                   cache: Any = None) -> AccountSyncResult | None:
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
    refs = list(body.get("accounts") or [body])
    usable = [r for r in refs if adapter_of(adapters, r["provider"]) is not None]
    if not usable:
        return None
    run_key = str(body["runKey"])
    if snapshot is None:
        snapshot = Snapshot.for_accounts(dv, [str(r["providerAccountId"]) for r in usable],
                                         catalog_version=body.get("catalogVersion"), cache=cache)
    total = AccountSyncResult(str(usable[0]["providerAccountId"]) if len(usable) == 1 else f"{len(usable)} accounts")
    per_account: list[tuple[Mapping[str, Any], Writes]] = []
    for ref in usable:
        writes = Writes()
        account = {A.ID: ref["providerAccountId"], A.PROVIDER: ref["provider"],
                   A.EXTERNAL_ID: ref["externalId"], A.CURRENCY: ref.get("currency")}
        try:
            adapter = adapter_of(adapters, ref["provider"])
            assert adapter is not None  # `usable` holds only accounts with an adapter
            one = sync_account(dv, adapter, account, run_key=run_key, now=now,
                               snapshot=snapshot, writes=writes)
        except RetriableError:
            raise
        except IntegrationError as exc:
            # What was compared before the failure (e.g. the entitlements call) is still right to write.
            total.errors.append(f"{ref['externalId']}: {exc}")
            per_account.append((ref, writes))
            continue
        for name in ("subscriptions_seen", "created", "updated", "change_logs", "drift", "entitlements", "skipped"):
            setattr(total, name, getattr(total, name) + getattr(one, name))
        total.errors.extend(one.errors)
        per_account.append((ref, writes))
    _flush_batch(dv, per_account, total)
    seen = [r for rows in snapshot.by_account.values() for r in rows]
    seen += [w for _, writes in per_account for w in writes.new_rows]
    try:
        # After the writes: a plan bought or found this run moves its customer's legacy Azure on.
        # Only batches holding a legacy Azure subscription still in transition pay for the read.
        if azure_transitions.any_in_transition(seen):
            azure_transitions.advance_accounts(dv, [str(r["providerAccountId"]) for r in usable],
                                               now or datetime.now(UTC))
    except RetriableError:
        raise
    except IntegrationError as exc:
        total.errors.append(f"legacy Azure transitions: {exc}")
    return total


def _flush_batch(dv: Any, per_account: list[tuple[Mapping[str, Any], Writes]], total: AccountSyncResult) -> None:
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
            total.errors.append(f"{per_account[0][0]['externalId']}: {exc}")
            return
    for ref, writes in per_account:
        try:
            writes.flush(dv)
        except RetriableError:
            raise
        except IntegrationError as exc:
            total.errors.append(f"{ref['externalId']}: {exc}")
