"""PortalRepository over the Dataverse Web API (dataverse/client.py), through the typed stores of
dataverse/stores/ (the column names live there). Ownership is checked on every read: a subscription
belongs to the account of its billing contract, an invoice to its customer, so another customer's id
reads as None (404)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dataverse.client import DataverseClient
from dataverse.stores import accounts, contacts, contracts, invoices, portal_subscriptions, products
from dataverse.stores.portal_pages import AgreementRows, PortalPages
from portal.models import (
    Account,
    Agreement,
    ChangeRequest,
    Contact,
    Contract,
    HomePage,
    Invoice,
    NewChange,
    Offer,
    ShopPage,
    Subscription,
)
from shared.errors import NotFoundError

if TYPE_CHECKING:
    from distributors.base import DistributorAdapter
    from sync.mca import AttestResult

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def is_guid(value: str | None) -> bool:
    return bool(value and _GUID.match(value))


class DataverseRepository:
    # Which account owns a contract changes almost never; remembering it for a minute saves a
    # round trip on every subscription page without letting a reassignment linger.
    OWNER_TTL_SECONDS = 60.0

    def __init__(self, dv: DataverseClient) -> None:
        self.dv = dv
        self.pages = PortalPages(dv)
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

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        if not is_guid(account_id):
            return []
        return self._subscriptions(self.pages.subscriptions(account_id), account_id)

    @staticmethod
    def _subscriptions(rows: Iterable[Mapping[str, Any]], account_id: str) -> list[Subscription]:
        return sorted((portal_subscriptions.subscription_from_row(r, account_id) for r in rows), key=lambda s: s.name)

    def get_subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        row = portal_subscriptions.get_row(self.dv, subscription_id) if is_guid(subscription_id) else None
        if row is None:
            return None
        contract_id = portal_subscriptions.contract_of(row)
        if not contract_id or self._contract_owner(contract_id) != account_id:
            return None
        return portal_subscriptions.subscription_from_row(row, account_id)

    # -- change logs ---------------------------------------------------------------------------
    def list_changes(self, account_id: str, subscription_id: str | None = None) -> list[ChangeRequest]:
        if subscription_id is not None:
            subs = [subscription_id] if self.get_subscription(account_id, subscription_id) else []
        else:
            subs = [s.id for s in self.list_subscriptions(account_id)]
        return portal_subscriptions.changes_of(self.dv, subs)

    def create_change(self, account_id: str, change: NewChange) -> ChangeRequest:
        if self.get_subscription(account_id, change.subscription_id) is None:
            raise LookupError(change.subscription_id)
        return portal_subscriptions.create_change(self.dv, change)

    # -- invoices ------------------------------------------------------------------------------
    def list_invoices(self, account_id: str) -> list[Invoice]:
        return invoices.for_customer(self.dv, account_id) if is_guid(account_id) else []

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        found = self.invoice_page(account_id, invoice_id)
        return found[0] if found else None

    def invoice_page(self, account_id: str, invoice_id: str) -> tuple[Invoice, Account | None] | None:
        if not (is_guid(account_id) and is_guid(invoice_id)):
            return None
        rows = self.pages.invoice(account_id, invoice_id)
        if rows.invoice is None:
            return None
        invoice = invoices.portal_invoice_from_row(rows.invoice, invoices.portal_lines_from_rows(rows.lines))
        return invoice, accounts.account_from_row(rows.account) if rows.account else None

    # -- buying --------------------------------------------------------------------------------
    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]:
        contract = self.get_contract(account_id, contract_id)
        return self._offers(contract) if contract else []

    def _offers(self, contract: Contract) -> list[Offer]:
        if not is_guid(contract.pricelevel_id):
            return []
        found = [o for o in (products.offer_from_row(p, contract.currency)
                             for p in self.pages.offers(contract.pricelevel_id)) if o]
        return sorted(found, key=lambda o: (o.name, o.unit_name))

    def create_pending_subscription(self, account_id: str, contract: Contract, offer: Offer,
                                    quantity: int, term: str, billing_frequency: str) -> Subscription:
        return portal_subscriptions.create_pending_subscription(self.dv, account_id, contract, offer,
                                                         products.catalog_ids(self.dv, offer.product_id),
                                                         term, billing_frequency)

    # -- agreement -----------------------------------------------------------------------------
    def get_agreement(self, account_id: str) -> Agreement | None:
        if not is_guid(account_id):
            return None
        return self._agreement(account_id, self.pages.agreement(account_id))

    @staticmethod
    def _agreement(account_id: str, found: AgreementRows) -> Agreement | None:
        return portal_subscriptions.agreement_from_rows(account_id, found.provider_accounts, found.agreements)

    # -- pages: each page's reads in one round trip (the shop: two) ------------------------------
    def home_page(self, account_id: str, *, subscriptions: bool, invoices: bool) -> HomePage:
        if not is_guid(account_id):
            return HomePage(None, [], [], None)
        rows = self.pages.home(account_id, subscriptions=subscriptions, invoices=invoices)
        return HomePage(accounts.account_from_row(rows.account) if rows.account else None,
                        self._subscriptions(rows.subscriptions, account_id), _invoices(rows.invoices),
                        self._agreement(account_id, rows.agreement))

    def subscription_page(self, account_id: str,
                          subscription_id: str) -> tuple[Subscription, list[ChangeRequest]] | None:
        if not (is_guid(account_id) and is_guid(subscription_id)):
            return None
        rows = self.pages.subscription(account_id, subscription_id)
        if rows.subscription is None:
            return None
        return (portal_subscriptions.subscription_from_row(rows.subscription, account_id),
                portal_subscriptions.live_changes(rows.changes))

    def shop_page(self, account_id: str, contract_id: str | None) -> ShopPage:
        if not is_guid(account_id):
            return ShopPage([], None, [], None)
        rows = self.pages.shop(account_id)
        found = sorted((contracts.portal_contract_from_row(r) for r in rows.contracts), key=lambda c: c.number)
        chosen = contract_id or (found[0].id if found else "")
        contract = next((c for c in found if c.id == chosen), None)
        return ShopPage(found, contract, self._offers(contract) if contract else [],
                        self._agreement(account_id, rows.agreement))


def _invoices(rows: Iterable[Mapping[str, Any]]) -> list[Invoice]:
    """Newest period first, as invoices.for_customer orders them."""
    return invoices.sort_newest_first(invoices.portal_invoice_from_row(r) for r in rows)


def mca_integration(dv: DataverseClient, partner_center: DistributorAdapter | Callable[[], DistributorAdapter],
                    ) -> Callable[..., AttestResult]:
    """`Integrations.attest_mca` for Dataverse: finds the customer's Partner Center provider account
    and hands the acceptance to the sync area's `sync.mca.attest`."""

    def attest(*, account_id: str, contact_id: str, email: str, first_name: str, last_name: str) -> AttestResult:
        from sync import mca

        provider_account_id = portal_subscriptions.partner_center_tenant_id(dv, account_id)
        if provider_account_id is None:
            raise NotFoundError("this customer has no Partner Center tenant to accept the agreement for")
        return mca.attest(dv, partner_center() if callable(partner_center) else partner_center,
                          provider_account_id=provider_account_id,
                          contact={"firstName": first_name, "lastName": last_name, "email": email})

    return attest
