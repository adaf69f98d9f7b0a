"""What the portal shows and changes, independent of where it is stored (memory or Dataverse).

Picklists are the shared definitions (billing.models for those billing rules use, dataverse.tables
for the rest), so the Dataverse repository maps them one to one; they are re-exported here for the
portal modules that import them from portal.models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from billing.models import ChangeOrigin, ChangeType, PaymentStatus, ProvisioningStatus, SubscriptionStatus
from dataverse.tables import AgreementStatus, PortalRole

__all__ = [
    "Account", "Agreement", "AgreementStatus", "ChangeOrigin", "ChangeRequest", "ChangeType", "Contact",
    "Contract", "HomePage", "Invoice", "InvoiceLine", "NewChange", "Offer", "PaymentStatus", "PortalRole",
    "PortalUser", "ProvisioningStatus", "ShopPage", "Subscription", "SubscriptionStatus",
]


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    portal_enabled: bool = True
    email: str = ""


@dataclass(frozen=True)
class Contact:
    id: str
    account_id: str
    first_name: str
    last_name: str
    email: str
    role: PortalRole
    subject: str = ""  # Entra object id (oid) the contact signs in with
    tenant_id: str = ""  # ... and the tenant (tid) it lives in: an oid is unique only within its tenant

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


@dataclass(frozen=True)
class Contract:
    id: str
    account_id: str
    number: str
    currency: str
    pricelevel_id: str = ""
    language: str = "en"
    has_payment_method: bool = False


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
class InvoiceLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


@dataclass(frozen=True)
class Invoice:
    id: str
    account_id: str
    number: str
    currency: str
    total: Decimal
    balance: Decimal
    period_start: date | None = None
    period_end: date | None = None
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    language: str = "en"
    lines: tuple[InvoiceLine, ...] = ()


@dataclass(frozen=True)
class Offer:
    """A portal-visible product on a contract's price list, at one unit (term + billing)."""

    product_id: str
    name: str
    sku: str
    unit_id: str
    unit_name: str
    price: Decimal
    currency: str


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
