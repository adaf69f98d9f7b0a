"""Billing models: frozen dataclasses shared by the engine, the Dataverse mappers, sync, portal,
recon and payments. Enum values equal the Dataverse picklist values in solution/TABLES.md, so a
mapper (dataverse/map_billing.py) can do `Frequency(value)` and `freq.value` both ways. These enums are the one
definition of their picklists: dataverse.tables re-exports them (and its test checks them against the
solution source), portal.models imports them.

Money fields are Decimal (billing/money.py); dates are `datetime.date` (Dataverse datetimes are
cut to their UTC date by the mappers because billing works in whole days).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import IntEnum, StrEnum

ZERO = Decimal("0")


class Frequency(IntEnum):
    """A billing contract's billing frequency; the value is the number of months per billing cycle."""

    MONTHLY = 1
    QUARTERLY = 3
    ANNUAL = 12
    TRIENNIAL = 36


class Policy(IntEnum):
    """A billing contract's policy: bill a cycle in advance or in arrears."""

    ADVANCE = 1
    ARREARS = 2


class RefundPolicy(IntEnum):
    """A billing contract's refund policy."""

    USE_GLOBAL = 0
    YES = 1
    NO = 2


class ProrateUnit(IntEnum):
    """A billing contract's proration unit."""

    DAYS = 1
    MONTHS = 2


class UsageGrouping(IntEnum):
    """How a billing contract groups usage on its invoices."""

    SUBSCRIPTION = 1
    METER_CATEGORY = 2
    RESOURCE_GROUP_TAG = 3


class LineType(IntEnum):
    """An invoice line's type."""

    LICENSE = 1
    PRORATION = 2
    CREDIT = 3
    USAGE = 4
    ONE_TIME = 5
    MINIMUM_COMMITMENT = 6


class Provider(IntEnum):
    """The provider of a provider account or a subscription."""

    PARTNER_CENTER = 1
    PAX8 = 2
    MANUAL = 3
    TDSYNNEX = 4
    INGRAM = 5


class SubscriptionStatus(IntEnum):
    """A subscription's status."""

    ACTIVE = 1
    SUSPENDED = 2
    EXPIRED = 3
    CANCELLED = 4
    PENDING = 5
    TRIAL = 6


class SubscriptionKind(IntEnum):
    """A subscription's kind."""

    LICENSE = 1
    AZURE_PLAN = 2
    AZURE_ENTITLEMENT = 3
    MARKETPLACE = 4
    ONE_TIME = 5
    LEGACY_AZURE = 6


# Billed from usage, monthly in arrears: the billing run rates them from usage summaries, contract
# assignment puts them on the usage contract. The rest are licenses (and one-time items).
USAGE_KINDS: frozenset[SubscriptionKind] = frozenset({
    SubscriptionKind.AZURE_PLAN, SubscriptionKind.AZURE_ENTITLEMENT, SubscriptionKind.LEGACY_AZURE,
    SubscriptionKind.MARKETPLACE})


class ChangeType(IntEnum):
    """A license change log's change type."""

    NEW = 1
    INCREASE = 2
    DECREASE = 3
    PRICE_CHANGE = 4
    CANCEL = 5
    RENEW = 6
    STATUS_CHANGE = 7
    TERM_CHANGE = 8


class ChangeOrigin(IntEnum):
    """Where a license change log came from."""

    SALES_REP = 1
    PORTAL = 2
    PROVIDER_SYNC = 3
    RENEWAL = 4
    # Seats moved by a Partner Center transition (upgrade, term or billing-cycle conversion, trial to paid).
    TRANSITION = 5


class ProvisioningStatus(IntEnum):
    """A license change log's provisioning status."""

    AWAITING = 1
    PROVISIONED = 2
    FAILED = 3
    NOT_APPLICABLE = 4
    REFUSED = 5
    # Written before an order is sent; a later attempt reconciles with the provider before any new POST.
    SENDING = 6
    # The provider may hold an order for this change that cannot be told apart from another: a person decides.
    NEEDS_REVIEW = 7
    # The provider's API cannot do this change (TD SYNNEX cancellation): the change log's error says what to do by hand.
    MANUAL_ACTION = 8


# A change that ended here never happened at the provider: it bills nothing and shapes no seat
# history (an Awaiting or in-flight change is still expected to take effect on its date).
NEVER_TOOK_EFFECT = frozenset({ProvisioningStatus.FAILED, ProvisioningStatus.REFUSED, ProvisioningStatus.MANUAL_ACTION})


class PaymentStatus(IntEnum):
    """An invoice's payment status (a payment row's own status is dataverse.tables.PaymentStatus)"""

    UNPAID = 1
    PARTIALLY_PAID = 2
    PAID = 3
    FAILED = 4


class TaxCategory(IntEnum):
    """A product's tax category."""

    STANDARD = 1
    REDUCED = 2
    EXEMPT = 3


class SuspendedBilling(IntEnum):
    """What a billing contract does while a subscription is suspended. Microsoft keeps billing the partner for a suspended
    new-commerce subscription, so the default passes that on to the customer."""

    KEEP_BILLING = 1
    STOP_BILLING = 2


class UsageSource(StrEnum):
    """A usage summary's source: whose figures a summary holds. `billed` = Microsoft's
    invoiced (closed-period) usage; `unbilled` = the interim, estimated figures of an open period."""

    BILLED = "billed"
    UNBILLED = "unbilled"


class InvoiceKind(StrEnum):
    """Third part of the invoice key. CYCLE = the regular cycle invoice (licenses, prorations,
    credits, one-time items, usage); CHANGELOG = a mid-term change-log invoice."""

    CYCLE = "cycle"
    CHANGELOG = "changelog"


# Term / billing-frequency codes as Microsoft writes them (a subscription's term and billing frequency).
TERM_MONTHS: dict[str, int] = {"P1M": 1, "P1Y": 12, "P3Y": 36}


@dataclass(frozen=True)
class BillingContract:
    number: str  # the contract number, the alternate key
    account_id: str | None
    frequency: Frequency
    policy: Policy
    start_date: date
    currency: str
    id: str | None = None
    name: str = ""
    end_date: date | None = None
    # None = the Work 365 default: 1 day after the cycle boundary (start for advance, end for arrears).
    billing_offset_days: int | None = None
    price_level_id: str | None = None
    transaction_currency_id: str | None = None
    refund_policy: RefundPolicy = RefundPolicy.USE_GLOBAL
    prorate_unit: ProrateUnit = ProrateUnit.DAYS
    usage_markup_pct: Decimal = ZERO
    minimum_commitment: Decimal | None = None
    usage_grouping: UsageGrouping = UsageGrouping.SUBSCRIPTION
    language: str = "en"
    discount_pct: Decimal = ZERO
    tax_rate_pct: Decimal = ZERO
    payment_provider: str = ""
    # Payment token is a secret: never log or print it; repr hides it.
    payment_token: str = field(default="", repr=False)
    primary_billing_contact_id: str | None = None
    auto_charge: bool = False
    auto_send: bool = False
    auto_sync: bool = False
    # The invoice date of the first cycle not invoiced yet; runs bill every cycle from there.
    next_invoice_date: date | None = None
    # Bill unbilled (estimated) usage of the previous month from this day of the month on (None = only
    # Microsoft-billed usage of closed periods); a true-up line corrects it once Microsoft bills.
    estimated_usage_day: int | None = None
    suspended_billing: SuspendedBilling = SuspendedBilling.KEEP_BILLING
    tax_jurisdiction: str = ""
    payment_terms_days: int = 30


@dataclass(frozen=True)
class Subscription:
    provider_subscription_id: str  # the provider's subscription id, the alternate key
    quantity: int
    unit_price: Decimal
    id: str | None = None
    name: str = ""
    contract_id: str | None = None
    provider: Provider = Provider.PARTNER_CENTER
    provider_account_id: str | None = None
    product_id: str | None = None  # Dynamics product (lookup)
    provider_product_id: str = ""  # the provider's product id
    sku_id: str = ""
    availability_id: str = ""
    offer_id: str = ""
    product_family: str = ""
    term: str = "P1M"
    billing_frequency: str = "P1M"
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    kind: SubscriptionKind = SubscriptionKind.LICENSE
    start_date: date | None = None
    commitment_end_date: date | None = None
    auto_renew: bool = True
    unit_cost: Decimal = ZERO
    currency: str = ""
    order_id: str = ""
    parent_subscription_id: str | None = None
    drift_flag: bool = False
    drift_detail: str = ""
    needs_transition: bool = False
    tax_category: TaxCategory = TaxCategory.STANDARD


@dataclass(frozen=True)
class ChangeLog:
    change_key: str  # the change key, the alternate key
    subscription_id: str | None  # the subscription row's Dataverse id
    change_type: ChangeType
    effective_date: date
    old_quantity: int = 0
    new_quantity: int = 0
    old_price: Decimal | None = None
    new_price: Decimal | None = None
    id: str | None = None
    requested_by: str = ""
    origin: ChangeOrigin = ChangeOrigin.SALES_REP
    provisioning_status: ProvisioningStatus = ProvisioningStatus.AWAITING
    provider_order_id: str = ""
    idempotency_key: str = ""
    error: str = ""
    archived: bool = False
    is_drift: bool = False
    invoice_id: str | None = None  # the invoice that billed it

    @property
    def shapes_billing(self) -> bool:
        """Whether billing reads this change at all (its lines and the seat history). Not a change
        that never happened (Refused, Failed, Manual Action), nor a Term Change we sent to the provider:
        that one is carried out by other change logs, the transition's (seats out of the old
        subscription and into the new one, at the same moment) or, at renewal, the sync's renewal log,
        and billing it too would bill the same seats twice."""
        if self.provisioning_status in NEVER_TOOK_EFFECT:
            return False
        return not (self.change_type is ChangeType.TERM_CHANGE
                    and self.provisioning_status is ProvisioningStatus.PROVISIONED)


@dataclass(frozen=True)
class UsageSummary:
    """Rated usage per customer, subscription, meter category, period and currency.
    `cost` is net of partner earned credit (cost_before_pec - pec_amount)."""

    summary_key: str
    subscription_id: str  # provider subscription id (Azure plan / marketplace)
    period: str  # YYYY-MM
    currency: str
    cost: Decimal
    id: str | None = None
    provider_account_id: str | None = None
    customer_id: str = ""
    entitlement_id: str = ""
    meter_category: str = ""
    resource_group_tag: str = ""
    quantity: Decimal = ZERO
    cost_before_pec: Decimal = ZERO
    pec_amount: Decimal = ZERO
    pricing_total: Decimal = ZERO
    row_count: int = 0
    billed: bool = False
    invoice_id: str | None = None
    source: UsageSource = UsageSource.BILLED
    # What the customer was last invoiced on for this summary (cost and whose figures), so a
    # true-up can bill the difference when Microsoft's billed figures replace an estimate.
    billed_cost: Decimal | None = None
    billed_source: UsageSource | None = None


@dataclass(frozen=True)
class OneTimeItem:
    """A one-off charge: reservation, perpetual software, marketplace one-time purchase. Billed once,
    on the cycle invoice whose billing window contains `effective_date`; never prorated."""

    key: str
    contract_id: str | None
    description: str
    quantity: int
    unit_price: Decimal
    effective_date: date
    currency: str = ""
    subscription_id: str | None = None
    product_id: str | None = None
    item_kind: str = "onetime"  # reservation | perpetual | marketplace | onetime


@dataclass(frozen=True)
class ExchangeRate:
    """Rate of one month: amount_in_to = amount_in_from * rate."""

    month: str  # YYYY-MM
    from_currency: str
    to_currency: str
    rate: Decimal
    source: str = ""


@dataclass(frozen=True)
class TaxRate:
    """One row of the tax rate table: the rate of a tax category in a jurisdiction (e.g. "ES",
    "US-WA"); `name` is what the invoice prints ("IVA 21%")."""

    jurisdiction: str
    category: TaxCategory
    rate_pct: Decimal
    name: str = ""


@dataclass(frozen=True)
class InvoiceLine:
    key: str  # the line key, unique across all invoices
    line_type: LineType
    description: str
    quantity: Decimal
    unit_price: Decimal  # priceperunit, unrounded display price
    base_amount: Decimal  # rounded once
    discount: Decimal  # manualdiscountamount, rounded once
    tax: Decimal  # rounded once
    period_start: date | None = None
    period_end: date | None = None  # inclusive last day
    subscription_id: str | None = None
    change_log_id: str | None = None
    product_id: str | None = None
    usage_summary_keys: tuple[str, ...] = ()
    id: str | None = None
    tax_rate_pct: Decimal = ZERO
    tax_name: str = ""
    # Set when the amount was converted: the currency it was priced in, the rate and its month.
    source_currency: str = ""
    exchange_rate: Decimal | None = None
    rate_month: str = ""

    @property
    def amount(self) -> Decimal:
        """extendedamount = base - discount + tax (each already rounded, so no second rounding)."""
        return self.base_amount - self.discount + self.tax


@dataclass(frozen=True)
class Invoice:
    key: str  # the invoice key = contract|cycle start|kind
    contract_number: str
    kind: InvoiceKind
    period_start: date
    period_end: date  # inclusive last day of the billed cycle
    invoice_date: date
    currency: str
    lines: tuple[InvoiceLine, ...] = ()
    contract_id: str | None = None
    account_id: str | None = None
    price_level_id: str | None = None
    transaction_currency_id: str | None = None
    language: str = "en"
    name: str = ""
    exchange_rate: Decimal | None = None
    id: str | None = None
    complete: bool = False  # lines written and the header totals set
    amount_paid: Decimal = ZERO
    payment_status: PaymentStatus = PaymentStatus.UNPAID
    # Change logs this invoice accounts for (keys), including ones that produced no line (a
    # change on the cycle start is inside the full line; a credit the refund policy refuses).
    change_log_keys: tuple[str, ...] = ()
    due_date: date | None = None

    @property
    def usage_summary_keys(self) -> tuple[str, ...]:
        return tuple(k for line in self.lines for k in line.usage_summary_keys)

    @property
    def total_line_amount(self) -> Decimal:
        return sum((line.base_amount - line.discount for line in self.lines), ZERO)

    @property
    def total_tax(self) -> Decimal:
        return sum((line.tax for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def balance(self) -> Decimal:
        return self.total - self.amount_paid

    def tax_breakdown(self) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """(tax name, rate %, taxable net, tax) per rate, sorted by rate."""
        groups: dict[tuple[str, Decimal], list[Decimal]] = {}
        for line in self.lines:
            row = groups.setdefault((line.tax_name, line.tax_rate_pct), [ZERO, ZERO])
            row[0] += line.base_amount - line.discount
            row[1] += line.tax
        return [(name, rate, net, tax) for (name, rate), (net, tax) in sorted(groups.items(), key=lambda kv: kv[0][1])]


@dataclass(frozen=True)
class RevenueScheduleEntry:
    key: str  # the schedule key = invoice key|month
    invoice_key: str
    month: str  # YYYY-MM
    amount: Decimal
    currency: str
    invoice_id: str | None = None
    contract_id: str | None = None
    exported: bool = False


def invoice_key(contract_number: str, cycle_start: date, kind: InvoiceKind) -> str:
    return f"{contract_number}|{cycle_start.isoformat()}|{kind.value}"


# QuickBooks caps DocNumber at 21 characters and Business Central's "No." at 20; keep every number within 20.
INVOICE_NUMBER_MAX = 20


def invoice_number(key: str) -> str:
    """A short, stable, human-readable invoice number derived from the invoice key.

    `BC-1001|2026-11-01|cycle` -> `BC-1001-261101`; a change-log invoice adds its initial (`...-261101C`).
    Keys whose readable form would be too long fall back to a hash, still stable across re-runs.
    """
    import hashlib

    contract, _, rest = key.partition("|")
    start, _, kind = rest.partition("|")
    suffix = "" if kind in ("", InvoiceKind.CYCLE.value) else kind[:1].upper()
    readable = f"{contract}-{start[2:].replace('-', '')}{suffix}" if start else ""
    if readable and len(readable) <= INVOICE_NUMBER_MAX and "|" not in readable:
        return readable
    return "INV-" + hashlib.sha256(key.encode()).hexdigest()[:12].upper()
