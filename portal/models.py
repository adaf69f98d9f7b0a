"""What the portal shows and changes, independent of where it is stored (memory or Dataverse).

Picklist values follow solution/TABLES.md so the Dataverse repository can map them one to one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import IntEnum


class PortalRole(IntEnum):
    ADMINISTRATOR = 1
    SUBSCRIPTION_MANAGER = 2
    FINANCE_MANAGER = 3


class SubscriptionStatus(IntEnum):
    ACTIVE = 1
    SUSPENDED = 2
    EXPIRED = 3
    CANCELLED = 4
    PENDING = 5
    TRIAL = 6


class ChangeType(IntEnum):
    NEW = 1
    INCREASE = 2
    DECREASE = 3
    PRICE_CHANGE = 4
    CANCEL = 5
    RENEW = 6
    STATUS_CHANGE = 7
    TERM_CHANGE = 8


class ChangeOrigin(IntEnum):
    SALES_REP = 1
    PORTAL = 2
    PROVIDER_SYNC = 3
    RENEWAL = 4


class ProvisioningStatus(IntEnum):
    AWAITING = 1
    PROVISIONED = 2
    FAILED = 3
    NOT_APPLICABLE = 4
    REFUSED = 5


class AgreementStatus(IntEnum):
    PENDING = 1
    ATTESTED = 2
    FAILED = 3


class PaymentStatus(IntEnum):
    UNPAID = 1
    PARTIALLY_PAID = 2
    PAID = 3
    FAILED = 4


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
    subject: str = ""  # Entra object id the contact signs in with

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
