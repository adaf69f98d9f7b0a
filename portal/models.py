"""What the portal shows and changes, independent of where it is stored (memory or Dataverse).

Picklists are the shared definitions (billing.models for those billing rules use, dataverse.tables
for the rest), so the Dataverse repository maps them one to one. The records the Dataverse stores
read (accounts, contacts, contracts, invoices, offers) are defined there, next to their columns;
all are re-exported here for the portal modules that import them from portal.models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from billing.models import ChangeOrigin, ChangeType, PaymentStatus, ProvisioningStatus, SubscriptionStatus
from dataverse.stores.accounts import Account
from dataverse.stores.contacts import Contact
from dataverse.stores.contracts import Contract
from dataverse.stores.invoices import Invoice, InvoiceLine
from dataverse.stores.products import Offer
from dataverse.tables import AgreementStatus, PortalRole

__all__ = [
    "Account", "Agreement", "AgreementStatus", "ChangeOrigin", "ChangeRequest", "ChangeType", "Contact",
    "Contract", "Invoice", "InvoiceLine", "NewChange", "Offer", "PaymentStatus", "PortalRole", "PortalUser",
    "ProvisioningStatus", "Subscription", "SubscriptionStatus",
]


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


@dataclass
class PortalUser:
    """The signed-in contact, as carried in the session."""

    contact_id: str
    account_id: str
    name: str
    role: PortalRole
    email: str = ""
    extra: dict[str, str] = field(default_factory=dict)
