"""cspb_subscription rows as sync and provisioning read and write them (billing reads them through
map_billing): the seats and status a rep edits, what the provisioning worker reads and writes back, the
subscription sync's reads and batched writes, and a customer's Azure plan rows."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dataverse.batch import BatchRequest
from dataverse.client import BYPASS_CUSTOM_ASYNC, BYPASS_HEADER, DataverseClient
from dataverse.odata import key_segment, literal
from dataverse.stores._rows import bind
from dataverse.tables import EntitySet, SubscriptionKind, Table
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


class Col:
    """cspb_subscription columns, for the subscription sync: its rows are compared column by column and
    are the write payloads themselves (an UpsertMultiple target per row), so it names columns through here."""

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
SYNC_COLUMNS = [Col.ID, Col.PROVIDER_SUBSCRIPTION_ID, Col.QUANTITY, Col.STATUS, Col.TERM, Col.BILLING_FREQUENCY,
                Col.COMMITMENT_END, Col.AUTO_RENEW, Col.PRODUCT_ID, Col.SKU_ID, Col.DRIFT_FLAG, Col.KIND,
                Col.NEEDS_TRANSITION, Col.UNIT_PRICE, Col.CURRENCY]


def sync_rows(dv: DataverseClient, account_ids: Sequence[str] | None = None, *,
              with_account: bool = True) -> Iterator[dict[str, Any]]:
    """The subscriptions of `account_ids` (every subscription when None), in one paged read; with
    `with_account` each row also names its provider account."""
    select = [*SYNC_COLUMNS, Col.PROVIDER_ACCOUNT] if with_account else SYNC_COLUMNS
    if account_ids is None:
        return dv.list(EntitySet.SUBSCRIPTIONS, select=select)
    where = " or ".join(f"{Col.PROVIDER_ACCOUNT} eq {i}" for i in account_ids)
    return dv.list(EntitySet.SUBSCRIPTIONS, select=select, filter=where if len(account_ids) == 1 else f"({where})")


def key_segment_value(provider_subscription_id: str) -> str:
    """The alternate key of a subscription, as it goes inside `cspb_subscriptions(...)`."""
    return f"{Col.PROVIDER_SUBSCRIPTION_ID}={literal(provider_subscription_id)}"


def bind_by_id(subscription_id: str) -> str:
    return bind(EntitySet.SUBSCRIPTIONS, subscription_id)


def bind_by_provider_id(provider_subscription_id: str) -> str:
    """A lookup to a subscription by its alternate key: one written a moment ago needs no read-back."""
    return f"/{EntitySet.SUBSCRIPTIONS}({key_segment_value(provider_subscription_id)})"


def bind_provider_account(provider_account_id: str) -> str:
    return bind(EntitySet.PROVIDER_ACCOUNTS, provider_account_id)


def bind_product(product_id: str) -> str:
    return bind(EntitySet.PRODUCTS, product_id)


def azure_plans(dv: DataverseClient, provider_account_id: str) -> list[dict[str, Any]]:
    """The customer's Azure plan rows (id, kind, status, provider id), for the one-plan rule."""
    return list(dv.list(EntitySet.SUBSCRIPTIONS,
                        select=[Col.ID, Col.KIND, Col.STATUS, Col.PROVIDER_SUBSCRIPTION_ID],
                        filter=f"{Col.PROVIDER_ACCOUNT} eq {provider_account_id} and "
                               f"{Col.KIND} eq {int(SubscriptionKind.AZURE_PLAN)}"))


# A changeset holds at most 1000 requests; smaller ones keep each transaction short under load.
PAIR_CHANGESET_REQUESTS = 200


def _upsert_request(entity_set: str, key: str, record: Mapping[str, Any], internal: str) -> BatchRequest:
    return BatchRequest("PATCH", key_segment(entity_set, {key: record[key]}),
                        {k: v for k, v in record.items() if k != key and k != internal},
                        headers={BYPASS_HEADER: BYPASS_CUSTOM_ASYNC})


def write_sync_batch(dv: DataverseClient, new_rows: Sequence[Mapping[str, Any]], logs: Sequence[Mapping[str, Any]],
                     changed_rows: Sequence[Mapping[str, Any]], entitlements: Sequence[Mapping[str, Any]], *,
                     pair: str) -> None:
    """Write a subscription and its change logs together or not at all: each subscription's row
    and logs go in one $batch changeset (a transaction), so a message that runs out of retries
    half-way (throttling) never leaves a new subscription without its initial change log, and
    its redelivery writes the same keys again. Within a pair the logs of an existing subscription
    come first, so the Update webhook's worker re-reading it finds the log that explains it; a
    new row comes before its logs, which bind to it by its alternate key. `pair`: the key each log
    carries naming its subscription's provider id (not sent).

    Every sync write carries MSCRM.BypassBusinessLogicExecution: CustomAsync: sync change logs
    are NotApplicable (nothing to provision), so the webhook need not fire for them. Rows with
    no log (entitlements, date corrections) are plain UpsertMultiple."""
    pairs: dict[str, list[BatchRequest]] = {}
    for row in new_rows:
        pairs.setdefault(row[Col.PROVIDER_SUBSCRIPTION_ID], []).append(_upsert_request(
            EntitySet.SUBSCRIPTIONS, Col.PROVIDER_SUBSCRIPTION_ID, row, pair))
    for log in logs:
        # Read, not popped: a failed batch flush is retried account by account with the same dicts.
        pairs.setdefault(str(log.get(pair, "")), []).append(_upsert_request(
            EntitySet.LICENSE_CHANGE_LOGS, "cspb_changekey", log, pair))
    lone: list[dict[str, Any]] = []
    for row in changed_rows:
        group = pairs.get(row[Col.PROVIDER_SUBSCRIPTION_ID])
        if group is None:
            lone.append(dict(row))
        else:
            group.append(_upsert_request(EntitySet.SUBSCRIPTIONS, Col.PROVIDER_SUBSCRIPTION_ID, row, pair))
    _send_pairs(dv, list(pairs.values()))
    for rows in (lone, [dict(r) for r in entitlements]):
        if rows:
            dv.bulk_upsert(EntitySet.SUBSCRIPTIONS, Table.SUBSCRIPTION, [Col.PROVIDER_SUBSCRIPTION_ID], rows,
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
