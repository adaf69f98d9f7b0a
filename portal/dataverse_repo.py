"""PortalRepository over the Dataverse Web API (dataverse/client.py), using the column names of
solution/TABLES.md. Ownership is checked on every read: a subscription belongs to the account of
its billing contract, an invoice to its customer, so another customer's id reads as None (404)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from dataverse.odata import bind
from dataverse.stores import accounts, contacts, contracts, invoices, products
from dataverse.tables import EntitySet
from portal.models import (
    Account,
    Agreement,
    AgreementStatus,
    ChangeOrigin,
    ChangeRequest,
    ChangeType,
    Contact,
    Contract,
    Invoice,
    NewChange,
    Offer,
    ProvisioningStatus,
    Subscription,
    SubscriptionStatus,
)
from shared.dates import parse_date, parse_datetime
from shared.errors import ConflictError, NotFoundError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PARTNER_CENTER = 1

SUBSCRIPTION_COLUMNS = ["cspb_subscriptionid", "cspb_name", "_cspb_billingcontract_value", "cspb_quantity", "cspb_term",
                        "cspb_billingfrequency", "cspb_status", "cspb_currencycode", "cspb_unitprice",
                        "cspb_startdate", "cspb_commitmentenddate", "cspb_autorenew", "cspb_providersubscriptionid"]
CHANGE_COLUMNS = ["cspb_licensechangelogid", "_cspb_subscription_value", "cspb_changetype", "cspb_oldquantity",
                  "cspb_newquantity", "cspb_origin", "cspb_provisioningstatus", "cspb_requestedby",
                  "cspb_effectivedate", "cspb_error", "cspb_archived"]


def is_guid(value: str | None) -> bool:
    return bool(value and _GUID.match(value))


def _dt(value: Any) -> datetime | None:
    return parse_datetime(value)


def _date(value: Any) -> date | None:
    return parse_date(value)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _or_filter(column: str, ids: Iterable[str]) -> str | None:
    ids = list(ids)
    if not ids:
        return None
    return "(" + " or ".join(f"{column} eq {i}" for i in ids) + ")"


class DataverseRepository:
    # Which account owns a contract changes almost never; remembering it for a minute saves a
    # round trip on every subscription page without letting a reassignment linger.
    OWNER_TTL_SECONDS = 60.0

    def __init__(self, dv: Any) -> None:
        self.dv = dv
        self._owners: dict[str, tuple[float, str]] = {}

    def _contract_owner(self, contract_id: str) -> str | None:
        cached = self._owners.get(contract_id)
        if cached and time.monotonic() - cached[0] < self.OWNER_TTL_SECONDS:
            return cached[1]
        owner = contracts.owner(self.dv, contract_id) if is_guid(contract_id) else None
        if owner is None:
            return None
        if len(self._owners) > 10_000:
            self._owners.clear()
        self._owners[contract_id] = (time.monotonic(), owner)
        return owner

    def _get(self, entity_set: str, row_id: str, select: list[str]) -> dict[str, Any] | None:
        if not is_guid(row_id):
            return None
        try:
            return dict(self.dv.get(entity_set, row_id, select=select))
        except NotFoundError:
            return None

    # -- people --------------------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        return contacts.get_contact(self.dv, contact_id) if is_guid(contact_id) else None

    def find_contact_by_subject(self, subject: str) -> Contact | None:
        return contacts.find_by_subject(self.dv, subject) if subject else None

    def find_contact_by_identity(self, tenant_id: str, object_id: str) -> Contact | None:
        if not tenant_id or not object_id:
            return None
        return contacts.find_by_identity(self.dv, tenant_id, object_id)

    def set_invitation(self, contact_id: str, token_hash: str, expires: datetime) -> None:
        contacts.set_invitation(self.dv, contact_id, token_hash, expires)

    def bind_invitation(self, token_hash: str, tenant_id: str, object_id: str, now: datetime) -> Contact | None:
        return contacts.bind_invitation(self.dv, token_hash, tenant_id, object_id, now)

    def find_contact_by_email(self, email: str) -> Contact | None:
        return contacts.find_by_email(self.dv, email.strip()) if email.strip() else None

    def list_signin_contacts(self) -> list[Contact]:
        enabled = accounts.portal_enabled_ids(self.dv)
        found = [c for c in contacts.portal_contacts(self.dv) if c.account_id in enabled]
        return sorted(found, key=lambda c: (c.account_id, c.last_name, c.first_name))

    def get_account(self, account_id: str) -> Account | None:
        return accounts.get_account(self.dv, account_id) if is_guid(account_id) else None

    # -- contracts and subscriptions -----------------------------------------------------------
    def list_contracts(self, account_id: str) -> list[Contract]:
        return contracts.for_account(self.dv, account_id) if is_guid(account_id) else []

    def get_contract(self, account_id: str, contract_id: str) -> Contract | None:
        contract = contracts.get_contract(self.dv, contract_id) if is_guid(contract_id) else None
        return contract if contract is not None and contract.account_id == account_id else None

    @staticmethod
    def _subscription(row: dict[str, Any], account_id: str) -> Subscription:
        return Subscription(
            id=row["cspb_subscriptionid"], account_id=account_id,
            contract_id=row.get("_cspb_billingcontract_value") or "", name=row.get("cspb_name") or "",
            quantity=int(row.get("cspb_quantity") or 0), term=row.get("cspb_term") or "P1M",
            billing_frequency=row.get("cspb_billingfrequency") or "P1M",
            status=SubscriptionStatus(int(row.get("cspb_status") or SubscriptionStatus.PENDING)),
            currency=row.get("cspb_currencycode") or "USD", unit_price=_money(row.get("cspb_unitprice")),
            start_date=_dt(row.get("cspb_startdate")), commitment_end=_dt(row.get("cspb_commitmentenddate")),
            auto_renew=bool(row.get("cspb_autorenew")),
            provider_subscription_id=row.get("cspb_providersubscriptionid") or "",
        )

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        where = _or_filter("_cspb_billingcontract_value", (c.id for c in self.list_contracts(account_id)))
        if where is None:
            return []
        rows = self.dv.list(EntitySet.SUBSCRIPTIONS, select=SUBSCRIPTION_COLUMNS, filter=where)
        return sorted((self._subscription(r, account_id) for r in rows), key=lambda s: s.name)

    def get_subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        row = self._get(EntitySet.SUBSCRIPTIONS, subscription_id, SUBSCRIPTION_COLUMNS)
        if row is None:
            return None
        contract_id = row.get("_cspb_billingcontract_value") or ""
        if not contract_id or self._contract_owner(contract_id) != account_id:
            return None
        return self._subscription(row, account_id)

    # -- change logs ---------------------------------------------------------------------------
    @staticmethod
    def _change(row: dict[str, Any]) -> ChangeRequest:
        return ChangeRequest(
            id=row["cspb_licensechangelogid"], subscription_id=row.get("_cspb_subscription_value") or "",
            change_type=ChangeType(int(row.get("cspb_changetype") or ChangeType.STATUS_CHANGE)),
            old_quantity=int(row.get("cspb_oldquantity") or 0), new_quantity=int(row.get("cspb_newquantity") or 0),
            origin=ChangeOrigin(int(row.get("cspb_origin") or ChangeOrigin.SALES_REP)),
            status=ProvisioningStatus(int(row.get("cspb_provisioningstatus") or ProvisioningStatus.AWAITING)),
            requested_by=row.get("cspb_requestedby") or "", effective=_dt(row.get("cspb_effectivedate")),
            error=row.get("cspb_error") or "",
        )

    def list_changes(self, account_id: str, subscription_id: str | None = None) -> list[ChangeRequest]:
        if subscription_id is not None:
            subs = [subscription_id] if self.get_subscription(account_id, subscription_id) else []
        else:
            subs = [s.id for s in self.list_subscriptions(account_id)]
        where = _or_filter("_cspb_subscription_value", subs)
        if where is None:
            return []
        rows = self.dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=CHANGE_COLUMNS, filter=where)
        return [self._change(r) for r in rows if not r.get("cspb_archived")]

    def create_change(self, account_id: str, change: NewChange) -> ChangeRequest:
        if self.get_subscription(account_id, change.subscription_id) is None:
            raise LookupError(change.subscription_id)
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
        # create_only: a double-submitted form finds the first change log instead of overwriting it
        # (which could reset a status the worker already wrote).
        try:
            row_id = self.dv.upsert(EntitySet.LICENSE_CHANGE_LOGS, key, record, mode="create_only").id
        except ConflictError:
            existing = self.dv.get_by_key(EntitySet.LICENSE_CHANGE_LOGS, key, select=CHANGE_COLUMNS)
            if existing is None:
                raise
            return self._change(existing)
        return self._change(self.dv.get(EntitySet.LICENSE_CHANGE_LOGS, row_id, select=CHANGE_COLUMNS))

    # -- invoices ------------------------------------------------------------------------------
    def list_invoices(self, account_id: str) -> list[Invoice]:
        return invoices.for_customer(self.dv, account_id) if is_guid(account_id) else []

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        return invoices.get_for_customer(self.dv, account_id, invoice_id) if is_guid(invoice_id) else None

    # -- buying --------------------------------------------------------------------------------
    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]:
        contract = self.get_contract(account_id, contract_id)
        if contract is None or not is_guid(contract.pricelevel_id):
            return []
        return products.offers(self.dv, contract.pricelevel_id, contract.currency)

    def _provider_account(self, account_id: str) -> dict[str, Any] | None:
        rows = list(self.dv.list(EntitySet.PROVIDER_ACCOUNTS,
                                 select=["cspb_provideraccountid", "cspb_provider", "cspb_mcaattested"],
                                 filter=f"_cspb_account_value eq {account_id}"))
        rows.sort(key=lambda r: (r.get("cspb_provider") != PARTNER_CENTER, r["cspb_provideraccountid"]))
        return rows[0] if rows else None

    def create_pending_subscription(self, account_id: str, contract: Contract, offer: Offer,
                                    quantity: int, term: str, billing_frequency: str) -> Subscription:
        product = products.catalog_ids(self.dv, offer.product_id)
        provider_account = self._provider_account(account_id)
        record: dict[str, Any] = {
            "cspb_name": offer.name[:100], "cspb_quantity": 0, "cspb_term": term, "cspb_billingfrequency": billing_frequency,
            "cspb_status": int(SubscriptionStatus.PENDING), "cspb_kind": 1, "cspb_currencycode": contract.currency,
            "cspb_unitprice": offer.price, "cspb_autorenew": True,
            "cspb_productid": product.product_id, "cspb_skuid": product.sku_id,
            "cspb_productfamily": product.family,
            "cspb_startdate": datetime.now(UTC).isoformat(),
            "cspb_billingcontract@odata.bind": bind(EntitySet.BILLING_CONTRACTS, contract.id),
            "cspb_product@odata.bind": bind(EntitySet.PRODUCTS, offer.product_id),
            # The alternate key needs a value before the provider assigns one; the provisioning
            # worker overwrites it with the provider's subscription id after the order.
            "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}",
        }
        if provider_account:
            record["cspb_provider"] = int(provider_account.get("cspb_provider") or PARTNER_CENTER)
            record["cspb_provideraccount@odata.bind"] = bind(EntitySet.PROVIDER_ACCOUNTS,
                                                             provider_account["cspb_provideraccountid"])
        row_id = self.dv.create(EntitySet.SUBSCRIPTIONS, record)
        return self._subscription(self.dv.get(EntitySet.SUBSCRIPTIONS, row_id, select=SUBSCRIPTION_COLUMNS), account_id)

    # -- agreement -----------------------------------------------------------------------------
    def get_agreement(self, account_id: str) -> Agreement | None:
        if not is_guid(account_id):
            return None
        accounts = list(self.dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_mcaattested"],
                                     filter=f"_cspb_account_value eq {account_id}"))
        where = _or_filter("_cspb_provideraccount_value", (a["cspb_provideraccountid"] for a in accounts))
        rows = list(self.dv.list(EntitySet.AGREEMENTS, filter=where, select=[
            "cspb_agreementid", "cspb_status", "cspb_dateagreed", "cspb_error", "_cspb_contact_value"])) if where else []
        rows.sort(key=lambda r: str(r.get("cspb_dateagreed") or ""))
        latest = rows[-1] if rows else None
        if any(a.get("cspb_mcaattested") for a in accounts):
            attested = [r for r in rows if r.get("cspb_status") == AgreementStatus.ATTESTED] or rows
            row = attested[-1] if attested else {}
            return Agreement(row.get("cspb_agreementid", ""), account_id, row.get("_cspb_contact_value") or "",
                             AgreementStatus.ATTESTED, _dt(row.get("cspb_dateagreed")))
        if latest is None:
            return None
        return Agreement(latest["cspb_agreementid"], account_id, latest.get("_cspb_contact_value") or "",
                         AgreementStatus(int(latest.get("cspb_status") or AgreementStatus.PENDING)),
                         _dt(latest.get("cspb_dateagreed")), latest.get("cspb_error") or "")


def mca_integration(dv: Any, partner_center: Any) -> Any:
    """`Integrations.attest_mca` for Dataverse: finds the customer's Partner Center provider account
    and hands the acceptance to the sync area's `sync.mca.attest`."""

    def attest(*, account_id: str, contact_id: str, email: str, first_name: str, last_name: str) -> Any:
        from sync import mca

        rows = list(dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid"],
                            filter=f"_cspb_account_value eq {account_id} and cspb_provider eq {PARTNER_CENTER}"))
        if not rows:
            raise NotFoundError("this customer has no Partner Center tenant to accept the agreement for")
        return mca.attest(dv, partner_center() if callable(partner_center) else partner_center,
                          provider_account_id=rows[0]["cspb_provideraccountid"],
                          contact={"firstName": first_name, "lastName": last_name, "email": email})

    return attest
