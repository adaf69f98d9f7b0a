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

from dataverse.odata import bind, literal
from dataverse.stores import portal_pages
from dataverse.stores.contacts import CONTACT_COLUMNS
from dataverse.stores.portal_pages import (
    CHANGE_COLUMNS,
    CONTRACT_COLUMNS,
    INVOICE_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    AgreementRows,
    PortalPages,
)
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
    HomePage,
    Invoice,
    InvoiceLine,
    NewChange,
    Offer,
    PaymentStatus,
    PortalRole,
    ProvisioningStatus,
    ShopPage,
    Subscription,
    SubscriptionStatus,
)
from shared.dates import parse_date, parse_datetime
from shared.errors import ConflictError, NotFoundError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
PARTNER_CENTER = 1

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
        self.pages = PortalPages(dv)
        self._owners: dict[str, tuple[float, str]] = {}

    def _contract_owner(self, contract_id: str) -> str | None:
        cached = self._owners.get(contract_id)
        if cached and time.monotonic() - cached[0] < self.OWNER_TTL_SECONDS:
            return cached[1]
        row = self._get(EntitySet.BILLING_CONTRACTS, contract_id, ["cspb_billingcontractid", "_cspb_account_value"])
        if row is None:
            return None
        owner = row.get("_cspb_account_value") or ""
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
    @staticmethod
    def _contact(row: dict[str, Any]) -> Contact | None:
        if row.get("cspb_portalrole") in (None, "") or not row.get("_parentcustomerid_value"):
            return None
        return Contact(id=row["contactid"], account_id=row["_parentcustomerid_value"],
                       first_name=row.get("firstname") or "", last_name=row.get("lastname") or "",
                       email=row.get("emailaddress1") or "", role=PortalRole(int(row["cspb_portalrole"])),
                       subject=row.get("cspb_portalsubject") or "", tenant_id=row.get("cspb_portaltenantid") or "")

    def get_contact(self, contact_id: str) -> Contact | None:
        row = self._get(EntitySet.CONTACTS, contact_id, CONTACT_COLUMNS)
        return self._contact(row) if row else None

    def find_contact_by_subject(self, subject: str) -> Contact | None:
        if not subject:
            return None
        rows = self.dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS,
                            filter=f"cspb_portalsubject eq {literal(subject)}", top=2)
        found = [c for c in (self._contact(r) for r in rows) if c]
        return found[0] if len(found) == 1 else None

    def find_contact_by_identity(self, tenant_id: str, object_id: str) -> Contact | None:
        if not tenant_id or not object_id:
            return None
        rows = self.dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, top=2,
                            filter=f"cspb_portalsubject eq {literal(object_id)} and "
                                   f"cspb_portaltenantid eq {literal(tenant_id)}")
        found = [c for c in (self._contact(r) for r in rows) if c]
        return found[0] if len(found) == 1 else None

    def set_invitation(self, contact_id: str, token_hash: str, expires: datetime) -> None:
        self.dv.update(EntitySet.CONTACTS, contact_id, {
            "cspb_portalinvitehash": token_hash,
            "cspb_portalinviteexpires": expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})

    def bind_invitation(self, token_hash: str, tenant_id: str, object_id: str, now: datetime) -> Contact | None:
        rows = list(self.dv.list(EntitySet.CONTACTS, select=[*CONTACT_COLUMNS, "cspb_portalinviteexpires"], top=2,
                                 filter=f"cspb_portalinvitehash eq {literal(token_hash)}"))
        if len(rows) != 1:
            return None
        row = dict(rows[0])
        expires = _dt(row.get("cspb_portalinviteexpires"))
        # Used up before anything else: a second use of the same link finds nothing.
        self.dv.update(EntitySet.CONTACTS, row["contactid"], {
            "cspb_portalinvitehash": None, "cspb_portalinviteexpires": None})
        if expires is None or expires <= now:
            return None
        self.dv.update(EntitySet.CONTACTS, row["contactid"], {
            "cspb_portalsubject": object_id, "cspb_portaltenantid": tenant_id})
        return self.get_contact(row["contactid"])

    def find_contact_by_email(self, email: str) -> Contact | None:
        if not email.strip():
            return None
        rows = self.dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, top=2,
                            filter=f"emailaddress1 eq {literal(email.strip())}")
        found = [c for c in (self._contact(r) for r in rows) if c]
        return found[0] if len(found) == 1 else None

    def list_signin_contacts(self) -> list[Contact]:
        enabled = {r["accountid"] for r in self.dv.list(EntitySet.ACCOUNTS, select=["accountid"],
                                                       filter="cspb_portalenabled eq true")}
        rows = self.dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, filter="cspb_portalrole ne null")
        contacts = [c for c in (self._contact(r) for r in rows) if c and c.account_id in enabled]
        return sorted(contacts, key=lambda c: (c.account_id, c.last_name, c.first_name))

    def get_account(self, account_id: str) -> Account | None:
        row = self._get(EntitySet.ACCOUNTS, account_id, portal_pages.ACCOUNT_COLUMNS)
        return self._account(row) if row else None

    @staticmethod
    def _account(row: dict[str, Any]) -> Account:
        return Account(row["accountid"], row.get("name") or "", bool(row.get("cspb_portalenabled")),
                       row.get("emailaddress1") or "")

    # -- contracts and subscriptions -----------------------------------------------------------
    @staticmethod
    def _contract(row: dict[str, Any]) -> Contract:
        return Contract(id=row["cspb_billingcontractid"], account_id=row.get("_cspb_account_value") or "",
                        number=row.get("cspb_contractnumber") or "", currency=row.get("cspb_currencycode") or "USD",
                        pricelevel_id=row.get("_cspb_pricelevel_value") or "", language=row.get("cspb_language") or "en",
                        has_payment_method=bool(row.get("cspb_paymenttoken")))

    def list_contracts(self, account_id: str) -> list[Contract]:
        if not is_guid(account_id):
            return []
        rows = self.dv.list(EntitySet.BILLING_CONTRACTS, select=CONTRACT_COLUMNS,
                            filter=f"_cspb_account_value eq {account_id}")
        return sorted((self._contract(r) for r in rows), key=lambda c: c.number)

    def get_contract(self, account_id: str, contract_id: str) -> Contract | None:
        row = self._get(EntitySet.BILLING_CONTRACTS, contract_id, CONTRACT_COLUMNS)
        if row is None or row.get("_cspb_account_value") != account_id:
            return None
        return self._contract(row)

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
        if not is_guid(account_id):
            return []
        return self._subscriptions(self.pages.subscriptions(account_id), account_id)

    def _subscriptions(self, rows: Iterable[dict[str, Any]], account_id: str) -> list[Subscription]:
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
        return self._changes(rows)

    def _changes(self, rows: Iterable[dict[str, Any]]) -> list[ChangeRequest]:
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
    @staticmethod
    def _invoice(row: dict[str, Any], lines: tuple[InvoiceLine, ...] = ()) -> Invoice:
        return Invoice(
            id=row["invoiceid"], account_id=row.get("_customerid_value") or "",
            number=row.get("invoicenumber") or row.get("name") or "", currency=row.get("cspb_currencycode") or "USD",
            total=_money(row.get("totalamount")), balance=_money(row.get("cspb_balance")),
            period_start=_date(row.get("cspb_periodstart")), period_end=_date(row.get("cspb_periodend")),
            payment_status=PaymentStatus(int(row.get("cspb_paymentstatus") or PaymentStatus.UNPAID)),
            language=row.get("cspb_language") or "en", lines=lines,
        )

    def list_invoices(self, account_id: str) -> list[Invoice]:
        if not is_guid(account_id):
            return []
        rows = self.dv.list(EntitySet.INVOICES, select=INVOICE_COLUMNS, filter=f"_customerid_value eq {account_id}")
        return self._invoices(rows)

    def _invoices(self, rows: Iterable[dict[str, Any]]) -> list[Invoice]:
        return sorted((self._invoice(r) for r in rows), key=lambda i: (i.period_start or date.min, i.number),
                      reverse=True)

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        found = self.invoice_page(account_id, invoice_id)
        return found[0] if found else None

    def invoice_page(self, account_id: str, invoice_id: str) -> tuple[Invoice, Account | None] | None:
        if not (is_guid(account_id) and is_guid(invoice_id)):
            return None
        rows = self.pages.invoice(account_id, invoice_id)
        if rows.invoice is None:
            return None
        lines = tuple(InvoiceLine(d.get("productdescription") or "", _money(d.get("quantity")),
                                  _money(d.get("priceperunit")), _money(d.get("extendedamount")))
                      for d in sorted(rows.lines, key=lambda d: d.get("cspb_linekey") or ""))
        return self._invoice(rows.invoice, lines), self._account(rows.account) if rows.account else None

    # -- buying --------------------------------------------------------------------------------
    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]:
        contract = self.get_contract(account_id, contract_id)
        return self._offers(contract) if contract else []

    def _offers(self, contract: Contract) -> list[Offer]:
        if not is_guid(contract.pricelevel_id):
            return []
        offers = []
        for p in self.pages.offers(contract.pricelevel_id):
            product, unit = p.get("productid") or {}, p.get("uomid") or {}
            if not p.get("_productid_value"):
                continue
            offers.append(Offer(product_id=p["_productid_value"], name=product.get("name") or "",
                                sku=product.get("productnumber") or "", unit_id=p.get("_uomid_value") or "",
                                unit_name=unit.get("name") or "", price=_money(p.get("amount")),
                                currency=contract.currency))
        return sorted(offers, key=lambda o: (o.name, o.unit_name))

    def _provider_account(self, account_id: str) -> dict[str, Any] | None:
        rows = list(self.dv.list(EntitySet.PROVIDER_ACCOUNTS,
                                 select=["cspb_provideraccountid", "cspb_provider", "cspb_mcaattested"],
                                 filter=f"_cspb_account_value eq {account_id}"))
        rows.sort(key=lambda r: (r.get("cspb_provider") != PARTNER_CENTER, r["cspb_provideraccountid"]))
        return rows[0] if rows else None

    def create_pending_subscription(self, account_id: str, contract: Contract, offer: Offer,
                                    quantity: int, term: str, billing_frequency: str) -> Subscription:
        product = self.dv.get(EntitySet.PRODUCTS, offer.product_id, select=["productid", "cspb_productid", "cspb_skuid",
                                                                            "cspb_productfamily"])
        provider_account = self._provider_account(account_id)
        record: dict[str, Any] = {
            "cspb_name": offer.name[:100], "cspb_quantity": 0, "cspb_term": term, "cspb_billingfrequency": billing_frequency,
            "cspb_status": int(SubscriptionStatus.PENDING), "cspb_kind": 1, "cspb_currencycode": contract.currency,
            "cspb_unitprice": offer.price, "cspb_autorenew": True,
            "cspb_productid": product.get("cspb_productid"), "cspb_skuid": product.get("cspb_skuid"),
            "cspb_productfamily": product.get("cspb_productfamily"),
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
        return self._agreement(account_id, self.pages.agreement(account_id))

    @staticmethod
    def _agreement(account_id: str, found: AgreementRows) -> Agreement | None:
        accounts, rows = found.provider_accounts, sorted(found.agreements,
                                                         key=lambda r: str(r.get("cspb_dateagreed") or ""))
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

    # -- pages: each page's reads in one round trip (the shop: two) ------------------------------
    def home_page(self, account_id: str, *, subscriptions: bool, invoices: bool) -> HomePage:
        if not is_guid(account_id):
            return HomePage(None, [], [], None)
        rows = self.pages.home(account_id, subscriptions=subscriptions, invoices=invoices)
        return HomePage(self._account(rows.account) if rows.account else None,
                        self._subscriptions(rows.subscriptions, account_id), self._invoices(rows.invoices),
                        self._agreement(account_id, rows.agreement))

    def subscription_page(self, account_id: str,
                          subscription_id: str) -> tuple[Subscription, list[ChangeRequest]] | None:
        if not (is_guid(account_id) and is_guid(subscription_id)):
            return None
        rows = self.pages.subscription(account_id, subscription_id)
        if rows.subscription is None:
            return None
        return self._subscription(rows.subscription, account_id), self._changes(rows.changes)

    def shop_page(self, account_id: str, contract_id: str | None) -> ShopPage:
        if not is_guid(account_id):
            return ShopPage([], None, [], None)
        rows = self.pages.shop(account_id)
        contracts = sorted((self._contract(r) for r in rows.contracts), key=lambda c: c.number)
        chosen = contract_id or (contracts[0].id if contracts else "")
        contract = next((c for c in contracts if c.id == chosen), None)
        return ShopPage(contracts, contract, self._offers(contract) if contract else [],
                        self._agreement(account_id, rows.agreement))

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
