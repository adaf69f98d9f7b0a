"""What the portal shows and changes, independent of where it is stored (memory or Dataverse).

Picklists are the shared definitions (billing.models for those billing rules use, dataverse.tables
for the rest), so the Dataverse repository maps them one to one. The records the Dataverse stores
read (accounts, contacts, contracts, invoices, offers, subscriptions and their changes, the
agreement) are defined there, next to their columns; all are re-exported here for the portal
modules that import them from portal.models."""

from __future__ import annotations

from dataclasses import dataclass, field

from billing.models import ChangeOrigin, ChangeType, PaymentStatus, ProvisioningStatus, SubscriptionStatus
from dataverse.stores.accounts import Account
from dataverse.stores.contacts import Contact
from dataverse.stores.contracts import Contract
from dataverse.stores.invoices import Invoice, InvoiceLine
from dataverse.stores.portal_subscriptions import Agreement, ChangeRequest, NewChange, Subscription
from dataverse.stores.products import Offer
from dataverse.tables import AgreementStatus, PortalRole

__all__ = [
    "Account", "Agreement", "AgreementStatus", "ChangeOrigin", "ChangeRequest", "ChangeType", "Contact",
    "Contract", "HomePage", "Invoice", "InvoiceLine", "NewChange", "Offer", "PaymentStatus", "PortalRole",
    "PortalUser", "ProvisioningStatus", "ShopPage", "Subscription", "SubscriptionStatus",
]


@dataclass
class PortalUser:
    """The signed-in contact, as carried in the session."""

    contact_id: str
    account_id: str
    name: str
    role: PortalRole
    email: str = ""
    extra: dict[str, str] = field(default_factory=dict)


# What a page shows, read together: the Dataverse repository fetches each in one round trip
# (dataverse/stores/portal_pages.py) instead of one read per object.
@dataclass(frozen=True)
class HomePage:
    account: Account | None
    subscriptions: list[Subscription]
    invoices: list[Invoice]
    agreement: Agreement | None


@dataclass(frozen=True)
class ShopPage:
    contracts: list[Contract]
    contract: Contract | None  # the chosen one; None when the customer has none (or chose another's)
    offers: list[Offer]
    agreement: Agreement | None
