"""cspb_subscription rows as sync and provisioning read and write them (billing reads them through
map_billing): the seats and status a rep edits, what the provisioning worker reads and writes back, the
subscription sync's reads and batched writes, and a customer's Azure plan rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse.batch import BatchRequest
from dataverse.client import BYPASS_CUSTOM_ASYNC, BYPASS_HEADER, DataverseClient
from dataverse.odata import any_of, key_segment, literal
from dataverse.stores._rows import KEEP, Keep, bind
from dataverse.stores.change_logs import SYNC_LOG_KEY, SyncChangeLog, sync_log_row
from dataverse.tables import EntitySet, SubscriptionKind, Table
from shared.dates import iso, parse_datetime
from shared.errors import NotFoundError


@dataclass(frozen=True)
class Seats:
    """What a rep edits on a subscription, and whether the provider has it yet."""

    quantity: int | None
    status: int | None
    provider_subscription_id: str | None
    unit_price: Decimal | int | None  # as Dataverse holds it: copied onto the change log unchanged


def seats(dv: DataverseClient, subscription_id: str) -> Seats:
    row = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id,
                 select=["cspb_quantity", "cspb_status", "cspb_providersubscriptionid", "cspb_unitprice"])
    return Seats(row.get("cspb_quantity"), row.get("cspb_status"), row.get("cspb_providersubscriptionid"),
                 row.get("cspb_unitprice"))


def set_seats(dv: DataverseClient, subscription_id: str, *, quantity: int | None = None,
              status: int | None = None) -> None:
    """Put the quantity and/or status back (after a refusal); nothing when neither is given."""
    changes: dict[str, Any] = {}
    if status is not None:
        changes["cspb_status"] = int(status)
    if quantity is not None:
        changes["cspb_quantity"] = quantity
    if changes:
        dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, changes)


# ---- the provisioning worker's view -----------------------------------------------------------------

PROVISIONING_COLUMNS = [
    "cspb_subscriptionid", "cspb_providersubscriptionid", "cspb_provider", "_cspb_provideraccount_value",
    "cspb_productid", "cspb_skuid", "cspb_availabilityid", "cspb_quantity", "cspb_term", "cspb_billingfrequency",
    "cspb_status", "cspb_startdate", "cspb_commitmentenddate", "cspb_orderid", "cspb_autorenew",
]


@dataclass(frozen=True)
class Provisioned:
    """A subscription as the provisioning worker reads it (dates as stored; None where empty)."""

    id: str
    provider_subscription_id: str | None
    provider: int | None
    provider_account_id: str | None
    product_id: str | None
    sku_id: str | None
    availability_id: str | None
    quantity: int | None
    term: str | None
    billing_frequency: str | None
    status: int | None
    start_date: str | None
    commitment_end: str | None
    order_id: str | None
    auto_renew: bool | None

    @property
    def catalog_item(self) -> str:
        """product[:sku[:availability]], as far as the row knows them."""
        return ":".join(p for p in (self.product_id, self.sku_id, self.availability_id) if p)


def provisioned(dv: DataverseClient, subscription_id: str | None) -> Provisioned | None:
    """The subscription, or None when there is no id or no such row."""
    if not subscription_id:
        return None
    try:
        row = dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=PROVISIONING_COLUMNS)
    except NotFoundError:
        return None
    return Provisioned(
        id=str(row["cspb_subscriptionid"]), provider_subscription_id=row.get("cspb_providersubscriptionid"),
        provider=row.get("cspb_provider"), provider_account_id=row.get("_cspb_provideraccount_value"),
        product_id=row.get("cspb_productid"), sku_id=row.get("cspb_skuid"),
        availability_id=row.get("cspb_availabilityid"), quantity=row.get("cspb_quantity"), term=row.get("cspb_term"),
        billing_frequency=row.get("cspb_billingfrequency"), status=row.get("cspb_status"),
        start_date=row.get("cspb_startdate"), commitment_end=row.get("cspb_commitmentenddate"),
        order_id=row.get("cspb_orderid"), auto_renew=row.get("cspb_autorenew"))


def set_auto_renew(dv: DataverseClient, subscription_id: str, on: bool) -> None:
    dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, {"cspb_autorenew": on})


@dataclass(frozen=True)
class OrderPlaced:
    """What a purchase writes on the subscription."""

    order_id: str
    status: int
    quantity: int
    start_date: str
    provider_subscription_id: str | None = None
    commitment_end: str | None = None


def record_order(dv: DataverseClient, subscription_id: str, order: OrderPlaced) -> None:
    changes: dict[str, Any] = {"cspb_orderid": order.order_id, "cspb_status": order.status,
                               "cspb_quantity": order.quantity, "cspb_startdate": order.start_date}
    if order.provider_subscription_id:
        changes["cspb_providersubscriptionid"] = order.provider_subscription_id
    if order.commitment_end is not None:
        changes["cspb_commitmentenddate"] = order.commitment_end
    dv.update(EntitySet.SUBSCRIPTIONS, subscription_id, changes)


class _Col:
    """cspb_subscription columns the subscription sync reads and writes (the records below are its view)."""

    ID = "cspb_subscriptionid"
    NAME = "cspb_name"
    PROVIDER_SUBSCRIPTION_ID = "cspb_providersubscriptionid"  # the alternate key
    PROVIDER = "cspb_provider"
    PROVIDER_ACCOUNT = "_cspb_provideraccount_value"
    PROVIDER_ACCOUNT_BIND = "cspb_provideraccount@odata.bind"
    PRODUCT_BIND = "cspb_product@odata.bind"
    PARENT_BIND = "cspb_parentsubscription@odata.bind"
    PRODUCT_ID = "cspb_productid"
    SKU_ID = "cspb_skuid"
    AVAILABILITY_ID = "cspb_availabilityid"
    QUANTITY = "cspb_quantity"
    STATUS = "cspb_status"
    TERM = "cspb_term"
    BILLING_FREQUENCY = "cspb_billingfrequency"
    START_DATE = "cspb_startdate"
    COMMITMENT_END = "cspb_commitmentenddate"
    AUTO_RENEW = "cspb_autorenew"
    UNIT_COST = "cspb_unitcost"
    UNIT_PRICE = "cspb_unitprice"
    CURRENCY = "cspb_currencycode"
    ORDER_ID = "cspb_orderid"
    KIND = "cspb_kind"
    NEEDS_TRANSITION = "cspb_needstransition"
    DRIFT_FLAG = "cspb_driftflag"
    DRIFT_DETAIL = "cspb_driftdetail"


# What the subscription sync compares with the provider's subscriptions.
_SYNC_COLUMNS = [_Col.ID, _Col.PROVIDER_SUBSCRIPTION_ID, _Col.QUANTITY, _Col.STATUS, _Col.TERM, _Col.BILLING_FREQUENCY,
                 _Col.COMMITMENT_END, _Col.AUTO_RENEW, _Col.PRODUCT_ID, _Col.SKU_ID, _Col.DRIFT_FLAG, _Col.KIND,
                 _Col.NEEDS_TRANSITION, _Col.UNIT_PRICE, _Col.CURRENCY]


# ---- the subscription sync's view -------------------------------------------------------------------

@dataclass(frozen=True)
class SyncedSubscription:
    """A subscription as Dynamics holds it, for the sync to compare with the provider's."""

    id: str
    provider_subscription_id: str | None
    provider_account_id: str | None
    quantity: int | None
    status: int | None
    term: str | None
    billing_frequency: str | None
    commitment_end: datetime | None
    auto_renew: bool | None
    product_id: str | None
    sku_id: str | None
    drift_flag: bool
    kind: int | None
    needs_transition: bool
    unit_price: Decimal | None
    currency: str | None


def _synced(row: Mapping[str, Any]) -> SyncedSubscription:
    price = row.get(_Col.UNIT_PRICE)
    return SyncedSubscription(
        id=str(row[_Col.ID]), provider_subscription_id=row.get(_Col.PROVIDER_SUBSCRIPTION_ID),
        provider_account_id=row.get(_Col.PROVIDER_ACCOUNT), quantity=row.get(_Col.QUANTITY),
        status=row.get(_Col.STATUS), term=row.get(_Col.TERM), billing_frequency=row.get(_Col.BILLING_FREQUENCY),
        commitment_end=parse_datetime(row.get(_Col.COMMITMENT_END)), auto_renew=row.get(_Col.AUTO_RENEW),
        product_id=row.get(_Col.PRODUCT_ID), sku_id=row.get(_Col.SKU_ID), drift_flag=bool(row.get(_Col.DRIFT_FLAG)),
        kind=row.get(_Col.KIND), needs_transition=bool(row.get(_Col.NEEDS_TRANSITION)),
        unit_price=parse_decimal(price) if price is not None else None, currency=row.get(_Col.CURRENCY))


def sync_rows(dv: DataverseClient, account_ids: Sequence[str] | None = None, *,
              with_account: bool = True) -> Iterator[SyncedSubscription]:
    """The subscriptions of `account_ids` (every subscription when None), in one paged read; with
    `with_account` each also names its provider account."""
    select = [*_SYNC_COLUMNS, _Col.PROVIDER_ACCOUNT] if with_account else _SYNC_COLUMNS
    if account_ids is None:
        return map(_synced, dv.list(EntitySet.SUBSCRIPTIONS, select=select))
    where = any_of(_Col.PROVIDER_ACCOUNT, account_ids, quote_values=False)
    return map(_synced, dv.list(EntitySet.SUBSCRIPTIONS, select=select,
                                filter=where if len(account_ids) == 1 else f"({where})"))


@dataclass(frozen=True)
class WantedSubscription:
    """A subscription as the provider has it, in Dynamics' terms: what the sync writes for it."""

    provider_subscription_id: str
    provider: int
    provider_account_id: str
    product_id: str | None
    sku_id: str | None
    availability_id: str | None
    quantity: int
    status: int
    term: str | None
    billing_frequency: str | None
    start_date: datetime | None
    commitment_end: datetime | None
    auto_renew: bool | None
    unit_cost: Decimal | None
    currency: str | None
    order_id: str | None


@dataclass(frozen=True)
class NewSubscription:
    """A subscription the sync found at the provider and Dynamics does not hold yet. `unit_price` and
    `currency` are the catalog price it starts at, when the catalog has one (else not written)."""

    wanted: WantedSubscription
    name: str
    kind: int
    needs_transition: bool
    drift_detail: str | None  # set: bought outside CSPBridge (the drift flag goes with it)
    product_ref: str | None = None  # the catalog product's id, when the catalog has the product
    unit_price: Decimal | None | Keep = KEEP

    @property
    def provider_subscription_id(self) -> str:
        return self.wanted.provider_subscription_id


@dataclass(frozen=True)
class SubscriptionUpdate:
    """What the sync changes on a subscription it already holds: None (or KEEP where None is a value)
    leaves a column as it is."""

    provider_subscription_id: str
    quantity: int | None = None
    status: int | None = None
    term: str | None | Keep = KEEP
    billing_frequency: str | None | Keep = KEEP
    commitment_end: datetime | None | Keep = KEEP
    unit_price: Decimal | None = None
    auto_renew: bool | None = None
    drift_detail: str | None = None  # set: a change nobody ordered through CSPBridge (the drift flag goes with it)

    def changes_anything(self) -> bool:
        return bool(_update_row(self).keys() - {_Col.PROVIDER_SUBSCRIPTION_ID})


@dataclass(frozen=True)
class Entitlement:
    """An Azure subscription under a customer's Azure plan (kind AzureEntitlement, the plan its parent).
    `plan_id`: the plan's row id, or None for a plan found this run (bound by its provider id)."""

    provider_subscription_id: str
    name: str
    status: int
    provider: int
    provider_account_id: str
    plan_provider_id: str
    plan_id: str | None = None


def _wanted_row(want: WantedSubscription) -> dict[str, Any]:
    return {
        _Col.PROVIDER_SUBSCRIPTION_ID: want.provider_subscription_id,
        _Col.PROVIDER: want.provider,
        _Col.PROVIDER_ACCOUNT_BIND: bind_provider_account(want.provider_account_id),
        _Col.PRODUCT_ID: want.product_id,
        _Col.SKU_ID: want.sku_id,
        _Col.AVAILABILITY_ID: want.availability_id,
        _Col.QUANTITY: want.quantity,
        _Col.STATUS: want.status,
        _Col.TERM: want.term,
        _Col.BILLING_FREQUENCY: want.billing_frequency,
        _Col.START_DATE: iso(want.start_date),
        _Col.COMMITMENT_END: iso(want.commitment_end),
        _Col.AUTO_RENEW: want.auto_renew,
        _Col.UNIT_COST: want.unit_cost,
        _Col.CURRENCY: want.currency,
        _Col.ORDER_ID: want.order_id,
    }


def _new_row(new: NewSubscription) -> dict[str, Any]:
    row = {**_wanted_row(new.wanted), _Col.KIND: new.kind, _Col.NEEDS_TRANSITION: new.needs_transition,
           _Col.DRIFT_FLAG: new.drift_detail is not None, _Col.DRIFT_DETAIL: new.drift_detail, _Col.NAME: new.name[:100]}
    if new.product_ref is not None:
        row[_Col.PRODUCT_BIND] = bind_product(new.product_ref)
    if not isinstance(new.unit_price, Keep):
        row[_Col.UNIT_PRICE] = new.unit_price
    return row


def _update_row(update: SubscriptionUpdate) -> dict[str, Any]:
    row: dict[str, Any] = {_Col.PROVIDER_SUBSCRIPTION_ID: update.provider_subscription_id}
    if update.quantity is not None:
        row[_Col.QUANTITY] = update.quantity
    if update.status is not None:
        row[_Col.STATUS] = update.status
    if not isinstance(update.term, Keep):
        row[_Col.TERM] = update.term
    if not isinstance(update.billing_frequency, Keep):
        row[_Col.BILLING_FREQUENCY] = update.billing_frequency
    if not isinstance(update.commitment_end, Keep):
        row[_Col.COMMITMENT_END] = iso(update.commitment_end)
    if update.unit_price is not None:
        row[_Col.UNIT_PRICE] = update.unit_price
    if update.auto_renew is not None:
        row[_Col.AUTO_RENEW] = update.auto_renew
    if update.drift_detail is not None:
        row[_Col.DRIFT_FLAG] = True
        row[_Col.DRIFT_DETAIL] = update.drift_detail[:2000]
    return row


def _entitlement_row(ent: Entitlement) -> dict[str, Any]:
    return {
        _Col.PROVIDER_SUBSCRIPTION_ID: ent.provider_subscription_id,
        _Col.NAME: ent.name[:100],
        _Col.KIND: int(SubscriptionKind.AZURE_ENTITLEMENT),
        _Col.STATUS: ent.status,
        _Col.QUANTITY: 1,
        _Col.PROVIDER: ent.provider,
        _Col.PARENT_BIND: bind_by_id(ent.plan_id) if ent.plan_id else bind_by_provider_id(ent.plan_provider_id),
        _Col.PROVIDER_ACCOUNT_BIND: bind_provider_account(ent.provider_account_id),
    }


def key_segment_value(provider_subscription_id: str) -> str:
    """The alternate key of a subscription, as it goes inside `cspb_subscriptions(...)`."""
    return f"{_Col.PROVIDER_SUBSCRIPTION_ID}={literal(provider_subscription_id)}"


def bind_by_id(subscription_id: str) -> str:
    return bind(EntitySet.SUBSCRIPTIONS, subscription_id)


def bind_by_provider_id(provider_subscription_id: str) -> str:
    """A lookup to a subscription by its alternate key: one written a moment ago needs no read-back."""
    return f"/{EntitySet.SUBSCRIPTIONS}({key_segment_value(provider_subscription_id)})"


def bind_provider_account(provider_account_id: str) -> str:
    return bind(EntitySet.PROVIDER_ACCOUNTS, provider_account_id)


def bind_product(product_id: str) -> str:
    return bind(EntitySet.PRODUCTS, product_id)


@dataclass(frozen=True)
class AzurePlan:
    """One of a customer's Azure plan subscriptions, for the one-plan rule."""

    id: str
    kind: int | None
    status: int | None
    provider_subscription_id: str | None


def azure_plans(dv: DataverseClient, provider_account_id: str) -> list[AzurePlan]:
    """The customer's Azure plan rows."""
    return [AzurePlan(str(r[_Col.ID]), r.get(_Col.KIND), r.get(_Col.STATUS), r.get(_Col.PROVIDER_SUBSCRIPTION_ID))
            for r in dv.list(EntitySet.SUBSCRIPTIONS,
                             select=[_Col.ID, _Col.KIND, _Col.STATUS, _Col.PROVIDER_SUBSCRIPTION_ID],
                             filter=f"{_Col.PROVIDER_ACCOUNT} eq {provider_account_id} and "
                                    f"{_Col.KIND} eq {int(SubscriptionKind.AZURE_PLAN)}")]


# A changeset holds at most 1000 requests; smaller ones keep each transaction short under load.
PAIR_CHANGESET_REQUESTS = 200


def _upsert_request(entity_set: str, key: str, record: Mapping[str, Any]) -> BatchRequest:
    return BatchRequest("PATCH", key_segment(entity_set, {key: record[key]}),
                        {k: v for k, v in record.items() if k != key},
                        headers={BYPASS_HEADER: BYPASS_CUSTOM_ASYNC})


def write_sync_batch(dv: DataverseClient, new_rows: Sequence[NewSubscription], logs: Sequence[SyncChangeLog],
                     changed_rows: Sequence[SubscriptionUpdate], entitlements: Sequence[Entitlement]) -> None:
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
    for new in new_rows:
        pairs.setdefault(new.provider_subscription_id, []).append(_upsert_request(
            EntitySet.SUBSCRIPTIONS, _Col.PROVIDER_SUBSCRIPTION_ID, _new_row(new)))
    for log in logs:
        pairs.setdefault(log.provider_subscription_id, []).append(_upsert_request(
            EntitySet.LICENSE_CHANGE_LOGS, SYNC_LOG_KEY, sync_log_row(log, (
                bind_by_id(log.subscription_id) if log.subscription_id
                else bind_by_provider_id(log.provider_subscription_id)))))
    lone: list[dict[str, Any]] = []
    for update in changed_rows:
        group = pairs.get(update.provider_subscription_id)
        if group is None:
            lone.append(_update_row(update))
        else:
            group.append(_upsert_request(EntitySet.SUBSCRIPTIONS, _Col.PROVIDER_SUBSCRIPTION_ID, _update_row(update)))
    _send_pairs(dv, list(pairs.values()))
    for rows in (lone, [_entitlement_row(e) for e in entitlements]):
        if rows:
            dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, Table.SUBSCRIPTION, [_Col.PROVIDER_SUBSCRIPTION_ID], rows,
                           bypass_custom_async=True)


def _send_pairs(dv: DataverseClient, groups: list[list[BatchRequest]]) -> None:
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
