"""cspb_licensechangelog rows as sync and provisioning read and write them: the changes a rep, the
portal or the provider sync record (keyed by cspb_changekey, so a retried write finds its row), their
provisioning state, and the write-back after the provider call. Billing reads them through map_billing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dataverse.client import DataverseClient
from dataverse.odata import any_of
from dataverse.stores._rows import KEEP, Keep, bind
from dataverse.tables import ChangeOrigin, EntitySet, ProvisioningStatus
from shared.dates import iso, parse_datetime


@dataclass(frozen=True)
class EffectiveChange:
    """The newest change log of a subscription in one of the given provisioning states."""

    change_type: int | None
    new_quantity: int | None


@dataclass(frozen=True)
class NewChangeLog:
    """A change log to record; upserted on `key`."""

    key: str
    name: str
    subscription_id: str
    change_type: int
    old_quantity: int | None
    new_quantity: int | None
    effective: datetime
    requested_by: str
    origin: int
    provisioning_status: int
    new_price: Decimal | int | None = None
    is_drift: bool = False
    archived: bool = False


def last_effective(dv: DataverseClient, subscription_id: str, statuses: Sequence[int]) -> EffectiveChange | None:
    where = any_of("cspb_provisioningstatus", [int(s) for s in statuses])
    rows = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS,
                        select=["cspb_newquantity", "cspb_changetype", "createdon", "versionnumber",
                                "cspb_provisioningstatus"],
                        filter=f"_cspb_subscription_value eq {subscription_id} and ({where})"))
    # createdon has one-second resolution; the row version breaks ties between logs of the same second.
    newest = max(rows, key=lambda r: (str(r.get("createdon") or ""), int(r.get("versionnumber") or 0)), default=None)
    if newest is None:
        return None
    return EffectiveChange(newest.get("cspb_changetype"), newest.get("cspb_newquantity"))


def record(dv: DataverseClient, log: NewChangeLog) -> str:
    """Upsert the change log on its key; its id."""
    row: dict[str, Any] = {
        "cspb_name": log.name[:100], "cspb_changetype": int(log.change_type),
        "cspb_oldquantity": log.old_quantity, "cspb_newquantity": log.new_quantity, "cspb_newprice": log.new_price,
        "cspb_effectivedate": iso(log.effective), "cspb_requestedby": log.requested_by,
        "cspb_origin": int(log.origin), "cspb_provisioningstatus": int(log.provisioning_status),
        "cspb_isdrift": log.is_drift, "cspb_archived": log.archived,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, log.subscription_id),
    }
    return dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": log.key[:200]}, row).id


# ---- the provisioning worker's view -----------------------------------------------------------------

PROVISIONING_COLUMNS = [
    "cspb_licensechangelogid", "cspb_changetype", "cspb_oldquantity", "cspb_newquantity", "cspb_origin",
    "cspb_provisioningstatus", "cspb_idempotencykey", "cspb_senttoprovideron", "_cspb_subscription_value",
    "cspb_providerorderid", "cspb_error", "cspb_changekey", "cspb_effectivedate",
    "cspb_targetcatalogitemid", "cspb_targetterm", "cspb_targetbillingfrequency",
]


@dataclass(frozen=True)
class Change:
    """A change log as the provisioning worker reads it (None where the row has no value)."""

    id: str
    change_type: int | None
    old_quantity: int | None
    new_quantity: int | None
    origin: int | None
    provisioning_status: int | None
    idempotency_key: str | None
    sent_on: datetime | None
    subscription_id: str | None
    provider_order_id: str | None
    change_key: str | None
    effective: datetime | None
    # (catalog item, term, billing frequency) a Term Change asks for; "" where it keeps the source's.
    target: tuple[str, str, str]
    error: str | None = None  # what the last provisioning attempt reported

    @property
    def sending(self) -> bool:
        return int(self.provisioning_status or 0) == int(ProvisioningStatus.SENDING)


def get_change(dv: DataverseClient, changelog_id: str) -> Change:
    """Raises NotFoundError when the change log is gone."""
    return _change(changelog_id, dv.get(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, select=PROVISIONING_COLUMNS))


def find_change(dv: DataverseClient, key: str) -> Change | None:
    """The change log recorded under `key` (cspb_changekey), or None."""
    row = dv.get_by_key(EntitySet.LICENSE_CHANGE_LOGS, {"cspb_changekey": key[:200]}, select=PROVISIONING_COLUMNS)
    return None if row is None else _change(str(row["cspb_licensechangelogid"]), row)


def _change(changelog_id: str, row: Mapping[str, Any]) -> Change:
    return Change(
        id=changelog_id, change_type=row.get("cspb_changetype"), old_quantity=row.get("cspb_oldquantity"),
        new_quantity=row.get("cspb_newquantity"), origin=row.get("cspb_origin"),
        provisioning_status=row.get("cspb_provisioningstatus"), idempotency_key=row.get("cspb_idempotencykey"),
        sent_on=parse_datetime(row.get("cspb_senttoprovideron")), subscription_id=row.get("_cspb_subscription_value"),
        provider_order_id=row.get("cspb_providerorderid"), change_key=row.get("cspb_changekey"),
        effective=parse_datetime(row.get("cspb_effectivedate")),
        target=(row.get("cspb_targetcatalogitemid") or "", row.get("cspb_targetterm") or "",
                row.get("cspb_targetbillingfrequency") or ""), error=row.get("cspb_error"))


def record_key(dv: DataverseClient, changelog_id: str, key: str, sent_on: datetime) -> None:
    """The idempotency key and the time, written before a provider call."""
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, {"cspb_idempotencykey": key,
                                                            "cspb_senttoprovideron": sent_on.isoformat()})


def write_back(dv: DataverseClient, changelog_id: str, status: int, *, error: str | None = None,
               order_id: str | None = None) -> None:
    """The provisioning outcome: its status and error (None clears it), and the provider's order id."""
    changes: dict[str, Any] = {"cspb_provisioningstatus": int(status), "cspb_error": error}
    if order_id:
        changes["cspb_providerorderid"] = order_id
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, changelog_id, changes)


class _Col:
    """cspb_licensechangelog columns of the subscription sync's change logs (SyncChangeLog below)."""

    KEY = "cspb_changekey"  # the alternate key
    NAME = "cspb_name"
    CHANGE_TYPE = "cspb_changetype"
    OLD_QUANTITY = "cspb_oldquantity"
    NEW_QUANTITY = "cspb_newquantity"
    OLD_PRICE = "cspb_oldprice"
    NEW_PRICE = "cspb_newprice"
    EFFECTIVE_DATE = "cspb_effectivedate"
    REQUESTED_BY = "cspb_requestedby"
    ORIGIN = "cspb_origin"
    PROVISIONING_STATUS = "cspb_provisioningstatus"
    IS_DRIFT = "cspb_isdrift"
    ARCHIVED = "cspb_archived"
    ERROR = "cspb_error"
    SUBSCRIPTION_BIND = "cspb_subscription@odata.bind"


SYNC_LOG_KEY = _Col.KEY


@dataclass(frozen=True)
class SyncChangeLog:
    """A change the subscription sync found at the provider, upserted on `key`. Nothing to provision
    (NotApplicable). `subscription_id`: the subscription's row, or None for one found this run (the
    log binds to it by its provider id). KEEP leaves a column as an earlier write of the key left it."""

    key: str
    name: str
    provider_subscription_id: str
    subscription_id: str | None
    change_type: int
    old_quantity: int | None
    new_quantity: int | None
    effective: datetime
    origin: int
    is_drift: bool
    error: str | None | Keep = KEEP
    old_price: Decimal | None | Keep = KEEP
    new_price: Decimal | None | Keep = KEEP
    requested_by: str = "provider sync"


def sync_log_row(log: SyncChangeLog, subscription_bind: str) -> dict[str, Any]:
    """The upsert payload (key included) of a sync change log bound to `subscription_bind`."""
    row: dict[str, Any] = {
        _Col.KEY: log.key, _Col.NAME: log.name[:100], _Col.CHANGE_TYPE: int(log.change_type),
        _Col.OLD_QUANTITY: log.old_quantity, _Col.NEW_QUANTITY: log.new_quantity,
        _Col.EFFECTIVE_DATE: iso(log.effective), _Col.REQUESTED_BY: log.requested_by, _Col.ORIGIN: int(log.origin),
        _Col.PROVISIONING_STATUS: int(ProvisioningStatus.NOT_APPLICABLE), _Col.IS_DRIFT: log.is_drift,
        _Col.ARCHIVED: False,
    }
    for column, value in ((_Col.ERROR, log.error), (_Col.OLD_PRICE, log.old_price), (_Col.NEW_PRICE, log.new_price)):
        if not isinstance(value, Keep):
            row[column] = value
    row[_Col.SUBSCRIPTION_BIND] = subscription_bind
    return row


_OWN_STATUSES = (int(ProvisioningStatus.AWAITING), int(ProvisioningStatus.PROVISIONED))


def own_changes(dv: DataverseClient, subscription_id: str) -> list[EffectiveChange]:
    """A subscription's change logs that CSPBridge asked for (not the sync's own): Awaiting, or
    Provisioned (the write-back may have been lost)."""
    rows = dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=[_Col.NEW_QUANTITY, _Col.CHANGE_TYPE],
                   filter=(f"_cspb_subscription_value eq {subscription_id} and "
                           f"({any_of(_Col.PROVISIONING_STATUS, _OWN_STATUSES)}) and "
                           f"{_Col.ORIGIN} ne {ChangeOrigin.PROVIDER_SYNC}"))
    return [EffectiveChange(r.get(_Col.CHANGE_TYPE), r.get(_Col.NEW_QUANTITY)) for r in rows]
