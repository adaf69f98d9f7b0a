"""The portal's view of a customer's subscriptions, their change logs and the Microsoft Customer Agreement
state: the records the portal shows, mapped from the rows dataverse/stores/portal_pages.py reads, and the
two writes the portal makes (a seat change as a change log, a purchase as a pending subscription).

Sync and billing read these tables through their own stores (billing.models); this is the customer's
narrower view, with ownership checked by the caller (a subscription is its contract's account's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.models import (
    ChangeOrigin,
    ChangeType,
    Provider,
    ProvisioningStatus,
    SubscriptionKind,
    SubscriptionStatus,
)
from dataverse.client import DataverseClient
from dataverse.odata import any_of, bind
from dataverse.stores._rows import as_money, as_text
from dataverse.stores.contracts import Contract
from dataverse.stores.products import CatalogIds, Offer
from dataverse.tables import AgreementStatus, EntitySet
from shared.dates import parse_datetime
from shared.errors import ConflictError, NotFoundError

Row = Mapping[str, Any]

SUBSCRIPTION_COLUMNS = ["cspb_subscriptionid", "cspb_name", "_cspb_billingcontract_value", "cspb_quantity", "cspb_term",
                        "cspb_billingfrequency", "cspb_status", "cspb_currencycode", "cspb_unitprice",
                        "cspb_startdate", "cspb_commitmentenddate", "cspb_autorenew", "cspb_providersubscriptionid"]
CHANGE_COLUMNS = ["cspb_licensechangelogid", "_cspb_subscription_value", "cspb_changetype", "cspb_oldquantity",
                  "cspb_newquantity", "cspb_origin", "cspb_provisioningstatus", "cspb_requestedby",
                  "cspb_effectivedate", "cspb_error", "cspb_archived"]
PROVIDER_ACCOUNT_COLUMNS = ["cspb_provideraccountid", "cspb_provider", "cspb_mcaattested"]
AGREEMENT_COLUMNS = ["cspb_agreementid", "cspb_status", "cspb_dateagreed", "cspb_error", "_cspb_contact_value"]
# The lookups the portal's ownership checks go through.
SUBSCRIPTION_CONTRACT = "_cspb_billingcontract_value"
CHANGE_SUBSCRIPTION = "_cspb_subscription_value"
AGREEMENT_PROVIDER_ACCOUNT = "_cspb_provideraccount_value"


@dataclass(frozen=True)
class Subscription:
    id: str
    account_id: str
    contract_id: str
    name: str
    quantity: int
    term: str  # P1M | P1Y | P3Y
    billing_frequency: str  # P1M | P1Y | P3Y
    status: SubscriptionStatus
    currency: str
    unit_price: Decimal = Decimal("0")
    start_date: datetime | None = None
    commitment_end: datetime | None = None
    auto_renew: bool = True
    provider_subscription_id: str = ""


@dataclass(frozen=True)
class ChangeRequest:
    id: str
    subscription_id: str
    change_type: ChangeType
    old_quantity: int
    new_quantity: int
    origin: ChangeOrigin
    status: ProvisioningStatus
    requested_by: str = ""
    effective: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class Agreement:
    id: str
    account_id: str
    contact_id: str
    status: AgreementStatus
    date_agreed: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class NewChange:
    """A seat change or purchase the portal asks the provisioning path to carry out."""

    subscription_id: str
    change_type: ChangeType
    old_quantity: int
    new_quantity: int
    requested_by: str
    effective: datetime
    idempotency_key: str
    old_price: Decimal | None = None
    new_price: Decimal | None = None


# ---- rows -> records ----------------------------------------------------------------------------

def subscription_from_row(row: Row, account_id: str) -> Subscription:
    return Subscription(
        id=str(row["cspb_subscriptionid"]), account_id=account_id,
        contract_id=as_text(row.get("_cspb_billingcontract_value")), name=as_text(row.get("cspb_name")),
        quantity=int(row.get("cspb_quantity") or 0), term=as_text(row.get("cspb_term")) or "P1M",
        billing_frequency=as_text(row.get("cspb_billingfrequency")) or "P1M",
        status=SubscriptionStatus(int(row.get("cspb_status") or SubscriptionStatus.PENDING)),
        currency=as_text(row.get("cspb_currencycode")) or "USD", unit_price=as_money(row.get("cspb_unitprice")),
        start_date=parse_datetime(row.get("cspb_startdate")),
        commitment_end=parse_datetime(row.get("cspb_commitmentenddate")), auto_renew=bool(row.get("cspb_autorenew")),
        provider_subscription_id=as_text(row.get("cspb_providersubscriptionid")),
    )


def contract_of(row: Row) -> str:
    """The billing contract a subscription row is on ("" when none): whose account owns it."""
    return as_text(row.get(SUBSCRIPTION_CONTRACT))


def change_from_row(row: Row) -> ChangeRequest:
    return ChangeRequest(
        id=str(row["cspb_licensechangelogid"]), subscription_id=as_text(row.get("_cspb_subscription_value")),
        change_type=ChangeType(int(row.get("cspb_changetype") or ChangeType.STATUS_CHANGE)),
        old_quantity=int(row.get("cspb_oldquantity") or 0), new_quantity=int(row.get("cspb_newquantity") or 0),
        origin=ChangeOrigin(int(row.get("cspb_origin") or ChangeOrigin.SALES_REP)),
        status=ProvisioningStatus(int(row.get("cspb_provisioningstatus") or ProvisioningStatus.AWAITING)),
        requested_by=as_text(row.get("cspb_requestedby")), effective=parse_datetime(row.get("cspb_effectivedate")),
        error=as_text(row.get("cspb_error")),
    )


def live_changes(rows: Iterable[Row]) -> list[ChangeRequest]:
    """The change logs not archived (an archived one is settled history, not shown)."""
    return [change_from_row(r) for r in rows if not r.get("cspb_archived")]


def agreement_from_rows(account_id: str, provider_accounts: Iterable[Row],
                        agreements: Iterable[Row]) -> Agreement | None:
    """The customer's MCA state: attested when any of its tenants is (showing the latest attested
    acceptance), else its latest acceptance's status, else None (never asked)."""
    tenants = list(provider_accounts)
    rows = sorted(agreements, key=lambda r: as_text(r.get("cspb_dateagreed")))
    latest = rows[-1] if rows else None
    if any(a.get("cspb_mcaattested") for a in tenants):
        attested = [r for r in rows if r.get("cspb_status") == AgreementStatus.ATTESTED] or rows
        row: Row = attested[-1] if attested else {}
        return Agreement(as_text(row.get("cspb_agreementid")), account_id, as_text(row.get("_cspb_contact_value")),
                         AgreementStatus.ATTESTED, parse_datetime(row.get("cspb_dateagreed")))
    if latest is None:
        return None
    return Agreement(str(latest["cspb_agreementid"]), account_id, as_text(latest.get("_cspb_contact_value")),
                     AgreementStatus(int(latest.get("cspb_status") or AgreementStatus.PENDING)),
                     parse_datetime(latest.get("cspb_dateagreed")), as_text(latest.get("cspb_error")))


# ---- reads and writes ---------------------------------------------------------------------------

def get_row(dv: DataverseClient, subscription_id: str) -> Row | None:
    """The subscription's row (the caller checks whose it is through contract_of), or None."""
    try:
        return dv.get(EntitySet.SUBSCRIPTIONS, subscription_id, select=SUBSCRIPTION_COLUMNS)
    except NotFoundError:
        return None


def changes_of(dv: DataverseClient, subscription_ids: Iterable[str]) -> list[ChangeRequest]:
    ids = list(subscription_ids)
    if not ids:
        return []
    where = f"({any_of(CHANGE_SUBSCRIPTION, ids, quote_values=False)})"
    return live_changes(dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=CHANGE_COLUMNS, filter=where))


def create_change(dv: DataverseClient, change: NewChange) -> ChangeRequest:
    """A change log from the portal, create-only on its key: a double-submitted form finds the first change
    log instead of overwriting it (which could reset a status the worker already wrote)."""
    key = {"cspb_changekey": f"portal|{change.idempotency_key}"}
    record: dict[str, Any] = {
        "cspb_name": f"Portal {ChangeType(change.change_type).name.title()} {change.old_quantity}->"
                     f"{change.new_quantity}"[:100],
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, change.subscription_id),
        "cspb_changetype": int(change.change_type), "cspb_oldquantity": change.old_quantity,
        "cspb_newquantity": change.new_quantity, "cspb_effectivedate": change.effective.astimezone(UTC).isoformat(),
        "cspb_requestedby": change.requested_by[:100], "cspb_origin": int(ChangeOrigin.PORTAL),
        "cspb_provisioningstatus": int(ProvisioningStatus.AWAITING), "cspb_archived": False,
    }
    if change.old_price is not None:
        record["cspb_oldprice"] = change.old_price
    if change.new_price is not None:
        record["cspb_newprice"] = change.new_price
    try:
        row_id = dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, key, record, mode="create_only").id
    except ConflictError:
        existing = dv.get_by_key(EntitySet.LICENSE_CHANGE_LOGS, key, select=CHANGE_COLUMNS)
        if existing is None:
            raise
        return change_from_row(existing)
    return change_from_row(dv.get(EntitySet.LICENSE_CHANGE_LOGS, row_id, select=CHANGE_COLUMNS))


@dataclass(frozen=True)
class Tenant:
    """One of the customer's provider accounts."""

    id: str
    provider: int


def create_pending_subscription(dv: DataverseClient, account_id: str, contract: Contract, offer: Offer,
                                product: CatalogIds, term: str, billing_frequency: str) -> Subscription:
    """A Pending subscription for a purchase, on the customer's Partner Center tenant when it has one."""
    tenant = partner_center_first(dv, account_id)
    record: dict[str, Any] = {
        "cspb_name": offer.name[:100], "cspb_quantity": 0, "cspb_term": term, "cspb_billingfrequency": billing_frequency,
        "cspb_status": int(SubscriptionStatus.PENDING), "cspb_kind": int(SubscriptionKind.LICENSE),
        "cspb_currencycode": contract.currency, "cspb_unitprice": offer.price, "cspb_autorenew": True,
        "cspb_productid": product.product_id, "cspb_skuid": product.sku_id, "cspb_productfamily": product.family,
        "cspb_startdate": datetime.now(UTC).isoformat(),
        "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, contract.id),
        "cspb_product@odata.bind": bind(EntitySet.PRODUCTS, offer.product_id),
        # The alternate key needs a value before the provider assigns one; the provisioning
        # worker overwrites it with the provider's subscription id after the order.
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}",
    }
    if tenant is not None:
        record["cspb_provider"] = tenant.provider
        record["cspb_provideraccount@odata.bind"] = bind(EntitySet.PROVIDER_ACCOUNTS, tenant.id)
    row_id = dv.create(EntitySet.SUBSCRIPTIONS, record)
    return subscription_from_row(dv.get(EntitySet.SUBSCRIPTIONS, row_id, select=SUBSCRIPTION_COLUMNS), account_id)


def partner_center_first(dv: DataverseClient, account_id: str) -> Tenant | None:
    """The customer's Partner Center tenant, else its first other provider account, else None."""
    rows = list(dv.list(EntitySet.PROVIDER_ACCOUNTS, select=PROVIDER_ACCOUNT_COLUMNS,
                        filter=f"_cspb_account_value eq {account_id}"))
    rows.sort(key=lambda r: (r.get("cspb_provider") != Provider.PARTNER_CENTER, as_text(r["cspb_provideraccountid"])))
    if not rows:
        return None
    return Tenant(str(rows[0]["cspb_provideraccountid"]), int(rows[0].get("cspb_provider") or Provider.PARTNER_CENTER))


def partner_center_tenant_id(dv: DataverseClient, account_id: str) -> str | None:
    """The customer's Partner Center provider account id (the MCA is attested there), or None."""
    rows = list(dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid"],
                        filter=f"_cspb_account_value eq {account_id} and "
                               f"cspb_provider eq {int(Provider.PARTNER_CENTER)}"))
    return str(rows[0]["cspb_provideraccountid"]) if rows else None
