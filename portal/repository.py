"""The portal's data access, as a small Protocol with an in-memory implementation.

Every read takes the signed-in customer's account id, so a record of another customer is simply
not found (the app answers 404, never the data). The Dataverse implementation lives in
portal/dataverse_repo.py."""

from __future__ import annotations

import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

from portal.models import (
    Account,
    Agreement,
    AgreementStatus,
    ChangeOrigin,
    ChangeRequest,
    Contact,
    Contract,
    HomePage,
    Invoice,
    NewChange,
    Offer,
    ProvisioningStatus,
    ShopPage,
    Subscription,
    SubscriptionStatus,
)


class PortalRepository(Protocol):
    def get_contact(self, contact_id: str) -> Contact | None: ...
    def find_contact_by_subject(self, subject: str) -> Contact | None: ...
    def find_contact_by_identity(self, tenant_id: str, object_id: str) -> Contact | None: ...
    def set_invitation(self, contact_id: str, token_hash: str, expires: datetime) -> None: ...
    def bind_invitation(self, token_hash: str, tenant_id: str, object_id: str, now: datetime) -> Contact | None:
        """The contact invited with this token, now bound to (tenant_id, object_id); the invitation is used
        up. None when the token is unknown, used or expired."""
        ...
    def list_signin_contacts(self) -> list[Contact]: ...
    def get_account(self, account_id: str) -> Account | None: ...
    def list_contracts(self, account_id: str) -> list[Contract]: ...
    def get_contract(self, account_id: str, contract_id: str) -> Contract | None: ...
    def list_subscriptions(self, account_id: str) -> list[Subscription]: ...
    def get_subscription(self, account_id: str, subscription_id: str) -> Subscription | None: ...
    def list_changes(self, account_id: str, subscription_id: str | None = None) -> list[ChangeRequest]: ...
    def create_change(self, account_id: str, change: NewChange) -> ChangeRequest: ...
    def list_invoices(self, account_id: str) -> list[Invoice]: ...
    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None: ...
    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]: ...
    def create_pending_subscription(self, account_id: str, contract: Contract, offer: Offer,
                                    quantity: int, term: str, billing_frequency: str) -> Subscription: ...
    def get_agreement(self, account_id: str) -> Agreement | None: ...
    # A page's reads together (Dataverse: one round trip each; the shop two).
    def home_page(self, account_id: str, *, subscriptions: bool, invoices: bool) -> HomePage: ...
    def subscription_page(self, account_id: str,
                          subscription_id: str) -> tuple[Subscription, list[ChangeRequest]] | None: ...
    def invoice_page(self, account_id: str, invoice_id: str) -> tuple[Invoice, Account | None] | None: ...
    def shop_page(self, account_id: str, contract_id: str | None) -> ShopPage: ...


class InMemoryRepository:
    """Holds portal models in dicts. Used by unit tests, the browser tests and `cspbridge portal --memory`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accounts: dict[str, Account] = {}
        self.contacts: dict[str, Contact] = {}
        self.contracts: dict[str, Contract] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.changes: dict[str, ChangeRequest] = {}
        self.invoices: dict[str, Invoice] = {}
        self.offers: dict[str, list[Offer]] = {}  # contract id -> offers
        self.agreements: dict[str, Agreement] = {}  # account id -> agreement
        self.invitations: dict[str, tuple[str, datetime]] = {}  # token hash -> (contact id, expires)

    # -- seeding -------------------------------------------------------------------------------
    def add(self, *items: object) -> InMemoryRepository:
        for item in items:
            if isinstance(item, Account):
                self.accounts[item.id] = item
            elif isinstance(item, Contact):
                self.contacts[item.id] = item
            elif isinstance(item, Contract):
                self.contracts[item.id] = item
            elif isinstance(item, Subscription):
                self.subscriptions[item.id] = item
            elif isinstance(item, ChangeRequest):
                self.changes[item.id] = item
            elif isinstance(item, Invoice):
                self.invoices[item.id] = item
            elif isinstance(item, Agreement):
                self.agreements[item.account_id] = item
            else:
                raise TypeError(f"cannot store {type(item).__name__}")
        return self

    def add_offers(self, contract_id: str, offers: list[Offer]) -> None:
        self.offers.setdefault(contract_id, []).extend(offers)

    def set_agreement(self, agreement: Agreement) -> None:
        self.agreements[agreement.account_id] = agreement

    def set_change_status(self, change_id: str, status: ProvisioningStatus, error: str = "") -> None:
        """Stands in for the provisioning worker in tests and the local demo."""
        with self._lock:
            self.changes[change_id] = replace(self.changes[change_id], status=status, error=error)

    # -- PortalRepository ----------------------------------------------------------------------
    def get_contact(self, contact_id: str) -> Contact | None:
        return self.contacts.get(contact_id)

    def find_contact_by_subject(self, subject: str) -> Contact | None:
        return next((c for c in self.contacts.values() if subject and c.subject == subject), None)

    def find_contact_by_email(self, email: str) -> Contact | None:
        wanted = email.strip().lower()
        found = [c for c in self.contacts.values() if wanted and c.email.lower() == wanted]
        return found[0] if len(found) == 1 else None

    def find_contact_by_identity(self, tenant_id: str, object_id: str) -> Contact | None:
        if not tenant_id or not object_id:
            return None
        return next((c for c in self.contacts.values()
                     if c.subject == object_id and c.tenant_id == tenant_id), None)

    def set_invitation(self, contact_id: str, token_hash: str, expires: datetime) -> None:
        with self._lock:
            self.invitations = {h: v for h, v in self.invitations.items() if v[0] != contact_id}
            self.invitations[token_hash] = (contact_id, expires)

    def bind_invitation(self, token_hash: str, tenant_id: str, object_id: str, now: datetime) -> Contact | None:
        with self._lock:
            entry = self.invitations.pop(token_hash, None)
            if entry is None or entry[1] <= now or entry[0] not in self.contacts:
                return None
            bound = replace(self.contacts[entry[0]], subject=object_id, tenant_id=tenant_id)
            self.contacts[bound.id] = bound
            return bound

    def list_signin_contacts(self) -> list[Contact]:
        enabled = {a.id for a in self.accounts.values() if a.portal_enabled}
        return sorted((c for c in self.contacts.values() if c.account_id in enabled),
                      key=lambda c: (c.account_id, c.last_name, c.first_name))

    def get_account(self, account_id: str) -> Account | None:
        return self.accounts.get(account_id)

    def list_contracts(self, account_id: str) -> list[Contract]:
        return [c for c in self.contracts.values() if c.account_id == account_id]

    def get_contract(self, account_id: str, contract_id: str) -> Contract | None:
        contract = self.contracts.get(contract_id)
        return contract if contract and contract.account_id == account_id else None

    def list_subscriptions(self, account_id: str) -> list[Subscription]:
        return sorted((s for s in self.subscriptions.values() if s.account_id == account_id), key=lambda s: s.name)

    def get_subscription(self, account_id: str, subscription_id: str) -> Subscription | None:
        sub = self.subscriptions.get(subscription_id)
        return sub if sub and sub.account_id == account_id else None

    def list_changes(self, account_id: str, subscription_id: str | None = None) -> list[ChangeRequest]:
        own = {s.id for s in self.list_subscriptions(account_id)}
        return [c for c in self.changes.values()
                if c.subscription_id in own and (subscription_id is None or c.subscription_id == subscription_id)]

    def create_change(self, account_id: str, change: NewChange) -> ChangeRequest:
        if self.get_subscription(account_id, change.subscription_id) is None:
            raise LookupError(change.subscription_id)
        with self._lock:
            existing = next((c for c in self.changes.values() if c.id == change.idempotency_key), None)
            if existing:
                return existing
            created = ChangeRequest(
                id=change.idempotency_key, subscription_id=change.subscription_id, change_type=change.change_type,
                old_quantity=change.old_quantity, new_quantity=change.new_quantity, origin=ChangeOrigin.PORTAL,
                status=ProvisioningStatus.AWAITING, requested_by=change.requested_by, effective=change.effective,
            )
            self.changes[created.id] = created
            return created

    def list_invoices(self, account_id: str) -> list[Invoice]:
        return sorted((i for i in self.invoices.values() if i.account_id == account_id),
                      key=lambda i: i.number, reverse=True)

    def get_invoice(self, account_id: str, invoice_id: str) -> Invoice | None:
        inv = self.invoices.get(invoice_id)
        return inv if inv and inv.account_id == account_id else None

    def list_offers(self, account_id: str, contract_id: str) -> list[Offer]:
        if self.get_contract(account_id, contract_id) is None:
            return []
        return list(self.offers.get(contract_id, []))

    def create_pending_subscription(self, account_id: str, contract: Contract, offer: Offer,
                                    quantity: int, term: str, billing_frequency: str) -> Subscription:
        sub = Subscription(
            id=str(uuid.uuid4()), account_id=account_id, contract_id=contract.id, name=offer.name, quantity=0,
            term=term, billing_frequency=billing_frequency, status=SubscriptionStatus.PENDING,
            currency=offer.currency, unit_price=offer.price, start_date=datetime.now(UTC),
        )
        with self._lock:
            self.subscriptions[sub.id] = sub
        return sub

    def get_agreement(self, account_id: str) -> Agreement | None:
        return self.agreements.get(account_id)

    def home_page(self, account_id: str, *, subscriptions: bool, invoices: bool) -> HomePage:
        return HomePage(self.get_account(account_id), self.list_subscriptions(account_id) if subscriptions else [],
                        self.list_invoices(account_id) if invoices else [], self.get_agreement(account_id))

    def subscription_page(self, account_id: str,
                          subscription_id: str) -> tuple[Subscription, list[ChangeRequest]] | None:
        sub = self.get_subscription(account_id, subscription_id)
        return (sub, self.list_changes(account_id, sub.id)) if sub else None

    def invoice_page(self, account_id: str, invoice_id: str) -> tuple[Invoice, Account | None] | None:
        invoice = self.get_invoice(account_id, invoice_id)
        return (invoice, self.get_account(invoice.account_id)) if invoice else None

    def shop_page(self, account_id: str, contract_id: str | None) -> ShopPage:
        contracts = self.list_contracts(account_id)
        chosen = contract_id or (contracts[0].id if contracts else "")
        contract = self.get_contract(account_id, chosen) if chosen else None
        offers = self.list_offers(account_id, contract.id) if contract else []
        return ShopPage(contracts, contract, offers, self.get_agreement(account_id))

    def record_attestation(self, account_id: str, contact_id: str) -> Agreement:
        agreement = Agreement(id=str(uuid.uuid4()), account_id=account_id, contact_id=contact_id,
                              status=AgreementStatus.ATTESTED, date_agreed=datetime.now(UTC))
        self.agreements[account_id] = agreement
        return agreement

