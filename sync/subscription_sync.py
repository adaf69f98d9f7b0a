"""Subscription sync, fanned out: one queue message per batch of provider accounts.

`fan_out` (timer) enqueues one small message per batch of provider accounts (setting
CSPB_SUBSCRIPTION_SYNC_BATCH, default 50) carrying the catalog's version; the worker
(`handle_message`) reads Dynamics' subscriptions of the whole batch in one paged request, takes
the catalog and price list from the per-process cache (sync.reference_cache), and runs
`sync_account` per tenant: compare the provider's subscriptions with Dynamics and collect only the
differences: the subscription row (upsert by cspb_providersubscriptionid) and one
cspb_licensechangelog per changed aspect (quantity, status, term, renewal). The batch's writes
then go out together (UpsertMultiple, up to 1,000 rows a request), so a quiet run costs one read
per batch and a first import about three writes per batch. The in-process runner (CLI, demo)
drains the same messages with the same handler, so both paths make the same requests.

Drift: a difference that no change of ours explains (no Awaiting/Provisioned change log asking
for that value) was made outside CSPBridge, e.g. in the Partner Center portal. It is written
with cspb_isdrift on the log and cspb_driftflag + cspb_driftdetail on the subscription, for a
person to confirm; it is never silently treated as ordered.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse.batch import BatchRequest
from dataverse.stores import azure_transitions
from dataverse.tables import (
    ChangeOrigin,
    ChangeType,
    EntitySet,
    ProvisioningStatus,
    SubscriptionStatus,
)
from distributors.base import Adapters, DistributorAdapter, adapter_of
from shared.errors import IntegrationError, RetriableError, SkippableError
from shared.queue import Queue
from sync import azure_plan, runs
from sync.records import bind, iso, parse_dt

SUB_COLUMNS = ["cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_quantity", "cspb_status", "cspb_term",
               "cspb_billingfrequency", "cspb_commitmentenddate", "cspb_autorenew", "cspb_productid", "cspb_skuid",
               "cspb_driftflag", "cspb_kind", "cspb_needstransition", "cspb_unitprice", "cspb_currencycode"]

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
    return {"providerAccountId": account["cspb_provideraccountid"], "provider": account["cspb_provider"],
            "externalId": account["cspb_externalid"],
            "currency": account.get("cspb_currencycode") or _currency_of(account.get("cspb_country"))}


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
    accounts = sorted(dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_provider",
                                                                     "cspb_externalid", "cspb_currencycode",
                                                                     "cspb_country"]),
                      key=lambda a: str(a["cspb_provideraccountid"]))
    version = catalog_version(dv) if accounts else ""
    size = size or batch_size()
    for start in range(0, len(accounts), size):
        chunk = accounts[start:start + size]
        message = {"runKey": run.run_key, "catalogVersion": version, "accounts": [_account_ref(a) for a in chunk]}
        if queue.send(message, message_id=f"subsync:{run.run_key}:{chunk[0]['cspb_provideraccountid']}:{len(chunk)}"):
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
        for row in dv.list(EntitySet.SUBSCRIPTIONS, select=[*SUB_COLUMNS, "_cspb_provideraccount_value"]):
            by_account.setdefault(row.get("_cspb_provideraccount_value") or "", []).append(row)
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
            where = " or ".join(f"_cspb_provideraccount_value eq {i}" for i in ids)
            for row in dv.list(EntitySet.SUBSCRIPTIONS, select=[*SUB_COLUMNS, "_cspb_provideraccount_value"],
                               filter=where if len(ids) == 1 else f"({where})"):
                by_account.setdefault(row.get("_cspb_provideraccount_value") or "", []).append(row)
        products, prices = (cache or PROCESS_CACHE).get(dv, catalog_version, products=lambda d: _product_ids(d, []),
                                                        prices=_prices)
        return cls(by_account, products, prices)


def _prices(dv: Any) -> dict[str, tuple[Any, ...]]:
    """Catalog price list items by key (price list|product|unit) -> (amount, cost, volume tiers or None)."""
    return {r["cspb_pricekey"]: (r.get("amount"), r.get("cspb_cost"), r.get("cspb_pricetiers")) for r in dv.list(
        EntitySet.PRODUCT_PRICE_LEVELS, select=["cspb_pricekey", "amount", "cspb_cost", "cspb_pricetiers"],
        filter="cspb_pricekey ne null")}


def catalog_price(prices: Mapping[str, tuple[Any, Any]], want: Mapping[str, Any], currency: str,
                  ) -> tuple[Any, Any, str] | None:
    """The price list item a newly found subscription starts at, as (amount, cost, currency): its
    currency's price list (else the USD one), its product, and the unit for its term and billing."""
    from billing import catalog_pricing as cp
    from billing.newcommerce import FREQUENCY_TO_BILLING_CYCLE

    cycle = FREQUENCY_TO_BILLING_CYCLE.get(want.get("cspb_billingfrequency") or "")
    if not cycle or not want.get("cspb_productid") or not want.get("cspb_skuid") or not want.get("cspb_term"):
        return None
    number = cp.product_number(want["cspb_productid"], want["cspb_skuid"])
    unit = cp.unit_name(want["cspb_term"], cycle)
    for code in dict.fromkeys((currency.upper(), cp.pricing_currency(currency), cp.FALLBACK_CURRENCY)):
        found = prices.get(cp.price_key(cp.price_list_name(code), number, unit))
        if found is not None:
            amount = found[0]
            if len(found) > 2 and found[2] and amount is not None:
                # A tiered item: the subscription's quantity picks its tier (billing.catalog_pricing).
                amount = cp.unit_price_for_quantity(parse_decimal(amount), found[2], int(want.get("cspb_quantity") or 0))
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
        self._cache: dict[str, list[dict[str, Any]]] = {}

    def for_subscription(self, sub_id: str) -> list[dict[str, Any]]:
        if sub_id not in self._cache:
            self._cache[sub_id] = list(self.dv.list(
                EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_newquantity", "cspb_changetype"],
                filter=(f"_cspb_subscription_value eq {sub_id} and "
                        f"(cspb_provisioningstatus eq {ProvisioningStatus.AWAITING} or "
                        f"cspb_provisioningstatus eq {ProvisioningStatus.PROVISIONED}) and "
                        f"cspb_origin ne {ChangeOrigin.PROVIDER_SYNC}")))
        return self._cache[sub_id]

    def explains(self, sub_id: str, quantity: int | None, cancelled: bool, activated: bool = False) -> bool:
        for log in self.for_subscription(sub_id):
            if cancelled and log.get("cspb_changetype") == ChangeType.CANCEL:
                return True
            # An order of ours left the subscription Pending (e.g. Pax8 PendingManual); the provider
            # finishing it is the order completing, not drift.
            if activated and log.get("cspb_changetype") == ChangeType.NEW:
                return True
            if quantity is not None and log.get("cspb_newquantity") == quantity:
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
        """Write a subscription and its change logs together or not at all: each subscription's row
        and logs go in one $batch changeset (a transaction), so a message that runs out of retries
        half-way (throttling) never leaves a new subscription without its initial change log, and
        its redelivery writes the same keys again. Within a pair the logs of an existing subscription
        come first, so the Update webhook's worker re-reading it finds the log that explains it; a
        new row comes before its logs, which bind to it by its alternate key.

        Every sync write carries MSCRM.BypassBusinessLogicExecution: CustomAsync: sync change logs
        are NotApplicable (nothing to provision), so the webhook need not fire for them. Rows with
        no log (entitlements, date corrections) are plain UpsertMultiple."""
        pairs: dict[str, list[BatchRequest]] = {}
        for row in self.new_rows:
            pairs.setdefault(row["cspb_providersubscriptionid"], []).append(_upsert_request(
                EntitySet.SUBSCRIPTIONS, "cspb_providersubscriptionid", row))
        for log in self.logs:
            # Read, not popped: a failed batch flush is retried account by account with the same dicts.
            pairs.setdefault(str(log.get("_pair", "")), []).append(_upsert_request(
                EntitySet.LICENSE_CHANGE_LOGS, "cspb_changekey", log))
        lone: list[dict[str, Any]] = []
        for row in self.changed_rows:
            group = pairs.get(row["cspb_providersubscriptionid"])
            if group is None:
                lone.append(row)
            else:
                group.append(_upsert_request(EntitySet.SUBSCRIPTIONS, "cspb_providersubscriptionid", row))
        _send_pairs(dv, list(pairs.values()))
        for rows in (lone, self.entitlements):
            if rows:
                dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, "cspb_subscription", ["cspb_providersubscriptionid"], rows,
                               bypass_custom_async=True)
        for name in ("new_rows", "logs", "changed_rows", "entitlements"):
            getattr(self, name).clear()


# A changeset holds at most 1000 requests; smaller ones keep each transaction short under load.
PAIR_CHANGESET_REQUESTS = 200


def _upsert_request(entity_set: str, key: str, record: Mapping[str, Any]) -> BatchRequest:
    from dataverse.client import BYPASS_CUSTOM_ASYNC, BYPASS_HEADER
    from dataverse.odata import key_segment

    return BatchRequest("PATCH", key_segment(entity_set, {key: record[key]}),
                        {k: v for k, v in record.items() if k != key and k != "_pair"},
                        headers={BYPASS_HEADER: BYPASS_CUSTOM_ASYNC})


def _send_pairs(dv: Any, groups: list[list[BatchRequest]]) -> None:
    """Groups packed whole into changesets, sent in parallel up to the org's hint."""
    from concurrent.futures import ThreadPoolExecutor

    changesets: list[list[BatchRequest]] = []
    current: list[BatchRequest] = []
    for group in groups:
        if current and len(current) + len(group) > PAIR_CHANGESET_REQUESTS:
            changesets.append(current)
            current = []
        current.extend(group)
    if current:
        changesets.append(current)
    if not changesets:
        return
    workers = max(1, min(int(getattr(dv, "dop_hint", 1) or 1), 16, len(changesets)))
    if workers == 1:
        for changeset in changesets:
            dv.batch(changeset, changeset=True)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync-pairs") as pool:
        list(pool.map(lambda c: dv.batch(c, changeset=True), changesets))


def sync_account(dv: Any, adapter: DistributorAdapter, provider_account: Mapping[str, Any], *, run_key: str,
                 now: datetime | None = None, snapshot: Snapshot | None = None,
                 writes: Writes | None = None) -> AccountSyncResult:
    """Worker side: one provider account. Idempotent for a given run key (change log keys include it).
    With `writes`, the rows are collected there for the caller to flush; without, written now."""
    now = now or datetime.now(UTC)
    account_id = provider_account["cspb_provideraccountid"]
    provider = int(provider_account["cspb_provider"])
    result = AccountSyncResult(account_id)
    remote = list(adapter.list_subscriptions(provider_account["cspb_externalid"]))
    result.subscriptions_seen = len(remote)
    rows = snapshot.by_account.get(account_id, []) if snapshot is not None else dv.list(
        EntitySet.SUBSCRIPTIONS, select=SUB_COLUMNS, filter=f"_cspb_provideraccount_value eq {account_id}")
    local = {s["cspb_providersubscriptionid"]: s for s in rows if s.get("cspb_providersubscriptionid")}
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
            result.errors.append(f"{provider_account['cspb_externalid']}: skipped {exc.message}")
            unreadable.append(sub)
            continue
        if have is None:
            # The first sync of a tenant imports what it already has; after that, a subscription
            # nobody ordered through CSPBridge is drift.
            drift = bool(local)
            kind, needs_transition = azure_plan.classify(sub)
            row = {**want, "cspb_kind": kind, "cspb_needstransition": needs_transition, "cspb_driftflag": drift,
                   "cspb_driftdetail": ("bought outside CSPBridge: found at the provider by the subscription sync"
                                        if drift else None),
                   "cspb_name": (sub.product_name or sub.product_id or sub.id)[:100]}
            product_key = f"{want.get('cspb_productid')}:{want.get('cspb_skuid')}"
            if product_key in products:
                row["cspb_product@odata.bind"] = bind(EntitySet.PRODUCTS, products[product_key])
            # A new subscription starts at today's catalog price; after that only a renewal changes it.
            currency = want.get("cspb_currencycode") or provider_account.get("cspb_currencycode") or "USD"
            priced = catalog_price(prices, want, currency)
            if priced is not None:
                row["cspb_unitprice"] = priced[0]
                row["cspb_unitcost"] = want.get("cspb_unitcost") if want.get("cspb_unitcost") is not None \
                    else priced[1]
                row["cspb_currencycode"] = priced[2]
            sub_writes.append(row)
            log_writes.append(_log(run_key, sub.id, ChangeType.NEW, None, want["cspb_quantity"], now, drift=drift,
                                   detail="" if drift else "initial import"))
            result.created += 1
            result.drift += int(drift)
            continue
        changes, logs, drift_notes = _compare(have, want, sub.id, run_key, now, pending, price_list)
        if drift_notes:
            changes["cspb_driftflag"] = True
            changes["cspb_driftdetail"] = "; ".join(drift_notes)[:2000]
            result.drift += 1
        if changes:
            sub_writes.append({"cspb_providersubscriptionid": sub.id, **changes})
            result.updated += 1
        log_writes.extend(logs)
    own = writes is None
    out = Writes() if writes is None else writes
    out.new_rows.extend(w for w in sub_writes if w["cspb_providersubscriptionid"] not in local)
    out.changed_rows.extend(w for w in sub_writes if w["cspb_providersubscriptionid"] in local)
    for log in log_writes:
        provider_sub_id = log.pop("_provider_sub_id")
        log["_pair"] = provider_sub_id  # Writes.flush sends a subscription and its logs together
        have = local.get(provider_sub_id)
        # A subscription created a moment ago is bound by its alternate key: no read-back needed.
        log["cspb_subscription@odata.bind"] = (
            bind(EntitySet.SUBSCRIPTIONS, have["cspb_subscriptionid"]) if have else
            f"/{EntitySet.SUBSCRIPTIONS}({key_segment_value(provider_sub_id)})")
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
    account_id = provider_account["cspb_provideraccountid"]
    for plan in plans:
        # A plan found this run is not written yet: its entitlements bind to it by alternate key.
        plan_row = local.get(plan.id) or {"cspb_subscriptionid": key_segment_value(plan.id)}
        plan_row = {**plan_row, "cspb_provider": int(provider_account["cspb_provider"])}
        wanted = azure_plan.entitlement_rows(plan_row, adapter.list_azure_entitlements(
            provider_account["cspb_externalid"], plan.id), account_id)
        writes = [w for w in wanted if (local.get(w["cspb_providersubscriptionid"]) or {}).get("cspb_status")
                  != w["cspb_status"]]
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
        "cspb_providersubscriptionid": sub.id,
        "cspb_provider": provider,
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, account_id),
        "cspb_productid": product_id or None,
        "cspb_skuid": (sub.sku or sku) or None,
        "cspb_availabilityid": availability or None,
        "cspb_quantity": quantity,
        "cspb_status": _status_code(sub.status),
        "cspb_term": sub.commitment_term or sub.billing_term,
        "cspb_billingfrequency": sub.billing_term,
        "cspb_startdate": _date_iso(sub.start_date),
        "cspb_commitmentenddate": _date_iso(sub.commitment_end_date),
        "cspb_autorenew": sub.auto_renew,
        "cspb_unitcost": parse_decimal(sub.unit_cost) if sub.unit_cost is not None else None,
        "cspb_currencycode": sub.currency or None,
        "cspb_orderid": sub.order_id or None,
    }


def _compare(have: Mapping[str, Any], want: Mapping[str, Any], provider_sub_id: str, run_key: str, now: datetime,
             pending: PendingChanges, prices: PriceList | None = None,
             ) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    changes: dict[str, Any] = {}
    logs: list[dict[str, Any]] = []
    notes: list[str] = []
    local_id = have["cspb_subscriptionid"]
    old_q, new_q = have.get("cspb_quantity"), want["cspb_quantity"]
    if old_q != new_q:
        changes["cspb_quantity"] = new_q
        drift = not pending.explains(local_id, new_q, cancelled=False)
        kind = ChangeType.INCREASE if (old_q or 0) < new_q else ChangeType.DECREASE
        logs.append(_log(run_key, provider_sub_id, kind, old_q, new_q, now, drift=drift))
        if drift:
            notes.append(f"quantity {old_q} -> {new_q} at the provider, not ordered through CSPBridge")
    if have.get("cspb_status") != want["cspb_status"]:
        changes["cspb_status"] = want["cspb_status"]
        cancelled = want["cspb_status"] == SubscriptionStatus.CANCELLED
        activated = (have.get("cspb_status") == SubscriptionStatus.PENDING
                     and want["cspb_status"] == SubscriptionStatus.ACTIVE)
        drift = not pending.explains(local_id, None, cancelled=cancelled, activated=activated)
        kind = ChangeType.CANCEL if cancelled else ChangeType.STATUS_CHANGE
        logs.append(_log(run_key, provider_sub_id, kind, old_q, new_q, now, drift=drift,
                         detail=f"status {have.get('cspb_status')}->{want['cspb_status']}"))
        if drift:
            notes.append(f"status {_label(have.get('cspb_status'))} -> {_label(want['cspb_status'])} at the provider")
    term_changed = (have.get("cspb_term") != want["cspb_term"]
                    or have.get("cspb_billingfrequency") != want["cspb_billingfrequency"])
    if term_changed:
        changes["cspb_term"] = want["cspb_term"]
        changes["cspb_billingfrequency"] = want["cspb_billingfrequency"]
        logs.append(_log(run_key, provider_sub_id, ChangeType.TERM_CHANGE, old_q, new_q, now, drift=True,
                         detail=f"term {have.get('cspb_term')}/{have.get('cspb_billingfrequency')}->"
                                f"{want['cspb_term']}/{want['cspb_billingfrequency']}"))
        notes.append(f"term {have.get('cspb_term')}/{have.get('cspb_billingfrequency')} -> "
                     f"{want['cspb_term']}/{want['cspb_billingfrequency']} at the provider")
    old_end, new_end = parse_dt(have.get("cspb_commitmentenddate")), parse_dt(want["cspb_commitmentenddate"])
    if not _same_instant(old_end, new_end):
        changes["cspb_commitmentenddate"] = want["cspb_commitmentenddate"]
        # A first-time fill (e.g. the sync after an order) is the provider telling us the term end,
        # and a backward or small move is a correction (a cancel ends the term): neither is a renewal.
        if old_end is not None and is_renewal(old_end, new_end):
            log, new_price = renewal(have, want, provider_sub_id, old_end.date() + timedelta(days=1), prices)
            if new_price is not None:
                changes["cspb_unitprice"] = new_price
            logs.append(log)
    if want["cspb_autorenew"] is not None and have.get("cspb_autorenew") != want["cspb_autorenew"]:
        changes["cspb_autorenew"] = want["cspb_autorenew"]
        detail = f"auto-renew {_on_off(have.get('cspb_autorenew'))} -> {_on_off(want['cspb_autorenew'])} at the provider"
        status_log = next((log for log in logs if log["cspb_changetype"] == ChangeType.STATUS_CHANGE), None)
        if status_log is not None:
            status_log["cspb_error"] = f"{status_log['cspb_error'] or ''}; {detail}".strip("; ")
        else:
            logs.append(_log(run_key, provider_sub_id, ChangeType.STATUS_CHANGE, old_q, old_q, now, drift=False,
                             detail=detail))
    return changes, logs, notes


def is_renewal(old_end: datetime, new_end: datetime | None) -> bool:
    """The provider started a new term: the commitment end moved forward by (at least) a term."""
    return new_end is not None and (new_end.date() - old_end.date()).days >= RENEWAL_MIN_DAYS


def renewal_change_key(provider_sub_id: str, effective: date) -> str:
    """The same key billing's apply_renewals (dataverse.contract_jobs, billing.renewals) writes for a
    renewal, so whichever of the two sees the renewal first writes it and the other finds it done."""
    return f"{provider_sub_id}|renew|{effective.isoformat()}"


class PriceList:
    """Price list amounts by price key (catalog sync's productpricelevel.cspb_pricekey): the run's
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
                from dataverse.odata import literal

                rows = list(self.dv.list(EntitySet.PRODUCT_PRICE_LEVELS,
                                         select=["cspb_pricekey", "amount", "cspb_pricetiers"],
                                         filter=f"cspb_pricekey eq {literal(key)}"))
                self._read[key] = (rows[0].get("amount"), rows[0].get("cspb_pricetiers")) if rows else (None, None)
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

    if not currency or not want.get("cspb_productid") or not want.get("cspb_skuid"):
        return None
    frequency = want.get("cspb_billingfrequency") or ""
    return cp.price_key(cp.price_list_name(currency), cp.product_number(want["cspb_productid"], want["cspb_skuid"]),
                        cp.unit_name(want.get("cspb_term") or frequency,
                                     FREQUENCY_TO_BILLING_CYCLE.get(frequency, "monthly")))


def renewal(have: Mapping[str, Any], want: Mapping[str, Any], provider_sub_id: str, effective: date,
            prices: PriceList | None) -> tuple[dict[str, Any], Decimal | None]:
    """The Renew change log (same shape and key as billing's) and the new unit price, if the price
    list's current price differs: a subscription keeps its price for the term, the new term takes
    today's list price from the renewal date on."""
    quantity = have.get("cspb_quantity")
    key = renewal_change_key(provider_sub_id, effective)
    log: dict[str, Any] = {
        "cspb_changekey": key, "cspb_name": f"Renew {key}"[:100], "_provider_sub_id": provider_sub_id,
        "cspb_changetype": int(ChangeType.RENEW), "cspb_oldquantity": quantity, "cspb_newquantity": quantity,
        "cspb_effectivedate": iso(datetime(effective.year, effective.month, effective.day, tzinfo=UTC)),
        "cspb_requestedby": "provider sync", "cspb_origin": int(ChangeOrigin.RENEWAL),
        "cspb_provisioningstatus": int(ProvisioningStatus.NOT_APPLICABLE), "cspb_archived": False,
        "cspb_isdrift": False,
    }
    price_key = renewal_price_key(want, str(have.get("cspb_currencycode") or "").upper())
    new_price = prices.amount(price_key, int(quantity or 0)) if prices is not None and price_key else None
    old_price = parse_decimal(have["cspb_unitprice"]) if have.get("cspb_unitprice") is not None else None
    if new_price is None or new_price == old_price:
        return log, None
    log["cspb_oldprice"] = old_price
    log["cspb_newprice"] = new_price
    return log, new_price


def _on_off(value: Any) -> str:
    return "on" if value else "off"


def key_segment_value(provider_sub_id: str) -> str:
    from dataverse.odata import literal

    return f"cspb_providersubscriptionid={literal(provider_sub_id)}"


def _label(code: Any) -> str:
    try:
        return SubscriptionStatus(int(code)).name.title()
    except (TypeError, ValueError):
        return str(code)


def _log(run_key: str, provider_sub_id: str, kind: ChangeType, old_q: int | None, new_q: int | None, now: datetime,
         *, drift: bool, detail: str = "") -> dict[str, Any]:
    key = f"sync|{run_key}|{provider_sub_id}|{int(kind)}"
    return {
        "cspb_changekey": key,
        "cspb_name": f"{kind.name.title()} {provider_sub_id}"[:100],
        "_provider_sub_id": provider_sub_id,
        "cspb_changetype": int(kind),
        "cspb_oldquantity": old_q,
        "cspb_newquantity": new_q,
        "cspb_effectivedate": iso(now),
        "cspb_requestedby": "provider sync",
        "cspb_origin": int(ChangeOrigin.PROVIDER_SYNC),
        "cspb_provisioningstatus": int(ProvisioningStatus.NOT_APPLICABLE),
        "cspb_isdrift": drift,
        "cspb_archived": False,
        "cspb_error": detail or None,
    }


def _product_ids(dv: Any, remote: Iterable[Any]) -> dict[str, str]:
    return {p["productnumber"]: p["productid"] for p in dv.list(
        EntitySet.PRODUCTS, select=["productid", "productnumber"], filter="cspb_productid ne null")}


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
        account = {"cspb_provideraccountid": ref["providerAccountId"], "cspb_provider": ref["provider"],
                   "cspb_externalid": ref["externalId"], "cspb_currencycode": ref.get("currency")}
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
