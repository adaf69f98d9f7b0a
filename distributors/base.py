"""The distributor port: one Protocol every provider adapter implements, and its DTOs.

Adapters translate a provider's wire format into these frozen dataclasses and hold no
billing rules. Terms use the same ISO-8601 codes as the subscription table (P1M / P1Y / P3Y;
"OneTime" for non-recurring items) and statuses use the subscription status picklist's labels,
so the sync engine can write them to Dynamics without knowing which provider they came from.
Money is Decimal, in `currency`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from billing.models import Provider, SubscriptionStatus
from billing.money import parse_decimal
from shared.dates import parse_datetime
from shared.errors import FatalError, ValidationError

# Term codes (a subscription's term / billing frequency).
MONTHLY = "P1M"
ANNUAL = "P1Y"
TRIENNIAL = "P3Y"
ONE_TIME = "OneTime"
TERMS = (MONTHLY, ANNUAL, TRIENNIAL, ONE_TIME)

# Status labels of the subscription status picklist ("Active", "Suspended", ...).
STATUSES = tuple(status.name.title() for status in SubscriptionStatus)

# Provider picklist values by adapter name (as settings and the CLI spell them).
PROVIDER_CODES = {"partnercenter": Provider.PARTNER_CENTER, "pax8": Provider.PAX8, "manual": Provider.MANUAL,
                  "tdsynnex": Provider.TDSYNNEX, "ingram": Provider.INGRAM}
PROVIDER_NAMES = {code: name for name, code in PROVIDER_CODES.items()}


class ProviderRefused(FatalError):
    """The provider refused the change by one of its business rules (a second Azure plan): nothing
    was bought; the change log ends Refused with the provider's reason, not Failed."""


class ManualActionRequired(FatalError):
    """The provider's API cannot be asked for this change (TD SYNNEX cancellation): nothing was
    sent, and the message says what a person does in the provider's portal."""


@dataclass(frozen=True)
class Company:
    """A customer tenant at the distributor (a provider account in Dynamics)."""

    id: str
    name: str
    domain: str = ""
    country: str = ""
    currency: str = ""
    status: str = "Active"


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    vendor: str = ""
    sku: str = ""
    description: str = ""
    requires_commitment: bool = False


@dataclass(frozen=True)
class Price:
    """One buy/sell rate for a product at a billing term and commitment.

    `min_quantity`/`max_quantity` describe volume tiers (None = open ended)."""

    product_id: str
    billing_term: str
    commitment_term: str | None
    currency: str
    unit_cost: Decimal
    suggested_price: Decimal | None = None
    charge_type: str = "Per Unit"
    min_quantity: int = 1
    max_quantity: int | None = None


@dataclass(frozen=True)
class Subscription:
    id: str
    company_id: str
    product_id: str
    quantity: int
    status: str
    billing_term: str
    commitment_term: str | None = None
    start_date: date | None = None
    commitment_end_date: date | None = None
    unit_cost: Decimal | None = None
    unit_price: Decimal | None = None
    currency: str = ""
    product_name: str = ""
    sku: str = ""
    order_id: str = ""
    # None: the provider did not say (the sync must not read it as "turned off").
    auto_renew: bool | None = None
    offer_id: str = ""          # Partner Center's offerId (product:sku[:availability])
    availability_id: str = ""


@dataclass(frozen=True)
class OrderResult:
    """Outcome of place_order. `replayed` is True when the provider (or our ledger) had already
    accepted this idempotency key and returned the earlier order instead of buying again."""

    order_id: str
    status: str
    subscription_ids: tuple[str, ...] = ()
    replayed: bool = False
    message: str = ""


@dataclass(frozen=True)
class OrderCandidate:
    """An order at the provider that may be the one a lost POST committed (see find_orders)."""

    order_id: str
    created: str                 # as the provider reported it (Pax8: a date without a time)
    subscription_ids: tuple[str, ...] = ()
    quantity: int = 0
    product_id: str = ""
    # Our own reference, when the provider keeps it on the order (TD SYNNEX referenceId): a
    # candidate that carries it is this change's order, not merely one that looks like it.
    reference: str = ""

    def describe(self) -> str:
        subs = ", ".join(self.subscription_ids) or "no subscription yet"
        return f"order {self.order_id} of {self.created} ({self.quantity} x {self.product_id}; {subs})"


@dataclass(frozen=True)
class MicrosoftAcceptance:
    """Who accepted the Microsoft Customer Agreement, and when (from the customer's agreement row)."""

    first_name: str
    last_name: str
    email: str
    accepted_on: date


@dataclass(frozen=True)
class OrderContext:
    """What the product knows about the customer that a distributor's order form may ask for
    (Pax8's provisioning details for Microsoft products). Empty fields are simply not sent."""

    domain: str = ""
    tenant_id: str = ""
    acceptance: MicrosoftAcceptance | None = None


@dataclass(frozen=True)
class InvoiceLine:
    """A billed (invoice) or rated usage line from the distributor, cost side."""

    invoice_id: str
    line_id: str
    company_id: str
    subscription_id: str
    product_id: str
    description: str
    quantity: Decimal
    unit_cost: Decimal
    amount: Decimal
    currency: str
    period_start: date | None = None
    period_end: date | None = None
    charge_type: str = ""
    kind: str = "license"  # license | usage | onetime


@dataclass(frozen=True)
class Invoice:
    id: str
    invoice_date: date | None
    status: str
    total: Decimal
    balance: Decimal
    currency: str
    due_date: date | None = None


@dataclass(frozen=True)
class ChangeRequest:
    """What the manual provider records (and what any adapter was asked to do)."""

    action: str  # order | change_quantity | cancel
    idempotency_key: str
    company_id: str = ""
    product_id: str = ""
    subscription_id: str = ""
    quantity: int | None = None
    billing_term: str = ""
    commitment_term: str | None = None
    requested_on: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class DistributorAdapter(Protocol):
    """What the provisioning/sync engine needs from a distributor, as the adapters really take it.

    Every mutating call takes an idempotency key that the caller keeps stable across retries
    (e.g. the change log's idempotency key): calling twice with the same key must not
    buy or change seats twice. Errors are shared.errors types (Retriable for throttling/5xx).

    Calls on one subscription take the customer as `company_id=`: Partner Center and TD SYNNEX
    address a subscription under its customer (`needs_company`), the others ignore it. What an
    adapter can do beyond the common calls it declares in the capability flags below; the engine
    reads those flags and never probes for methods. AdapterBase holds the defaults.
    """

    provider: Provider
    # A repeated place_order with the same key cannot buy twice (the provider replays it). When
    # False, find_orders settles a send whose response was lost (sync/order_once.py).
    idempotent_orders: bool
    # find_orders' candidates carry our `reference` (TD SYNNEX referenceId): the search is exact.
    finds_by_reference: bool
    # place_order fills the order form from `context=` (Pax8's and TD SYNNEX's Microsoft details).
    uses_order_context: bool
    # Calls on one subscription fail without `company_id=`.
    needs_company: bool
    # The optional calls: set_auto_renew, schedule_next_term, transition, list_azure_entitlements,
    # attest_customer_agreement.
    sets_auto_renew: bool
    schedules_next_term: bool
    transitions: bool
    lists_azure_entitlements: bool
    attests_agreements: bool

    def list_companies(self) -> Iterator[Company]: ...

    def list_subscriptions(self, company_id: str | None = None) -> Iterator[Subscription]: ...

    def get_subscription(self, subscription_id: str, *, company_id: str | None = None) -> Subscription: ...

    def list_products(self) -> Iterator[Product]: ...

    def list_prices(self, product_id: str, currency: str | None = None) -> list[Price]: ...

    def place_order(
        self,
        company_id: str,
        product_id: str,
        quantity: int,
        billing_term: str,
        commitment_term: str | None,
        idempotency_key: str,
        *,
        context: OrderContext | None = None,
    ) -> OrderResult: ...

    def find_orders(self, company_id: str, product_id: str, quantity: int, billing_term: str, since: datetime, *,
                    reference: str = "") -> list[OrderCandidate]: ...

    def change_quantity(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                        company_id: str | None = None) -> Subscription: ...

    def cancel(self, subscription_id: str, idempotency_key: str, *, company_id: str | None = None) -> Subscription: ...

    def set_auto_renew(self, subscription_id: str, on: bool, idempotency_key: str, *,
                       company_id: str | None = None) -> Subscription | None: ...

    def schedule_next_term(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                           company_id: str | None = None, product: dict[str, str] | None = None,
                           custom_term_end: str | None = None) -> Subscription: ...

    def transition(self, subscription_id: str, to_catalog_item: str, quantity: int, term: str, billing_term: str,
                   idempotency_key: str, *, company_id: str | None = None) -> dict[str, Any]: ...

    def list_azure_entitlements(self, company_id: str, plan_subscription_id: str) -> list[dict[str, Any]]: ...

    def attest_customer_agreement(self, company_id: str, contact: dict[str, str], date_agreed: datetime,
                                  idempotency_key: str) -> dict[str, Any]: ...

    def list_invoices(self) -> Iterator[Invoice]: ...

    def list_invoice_lines(self, invoice_id: str) -> Iterator[InvoiceLine]: ...

    def list_usage_lines(self, subscription_id: str, period: str) -> Iterator[InvoiceLine]: ...


# The adapters the engine works with, one per provider (the provider picklist).
Adapters = Mapping[Provider, DistributorAdapter]


def adapter_of(adapters: Adapters, value: object) -> DistributorAdapter | None:
    """The adapter for a provider picklist value, or None when none is configured for it."""
    provider = provider_of(value)
    return adapters.get(provider) if provider is not None else None


def provider_of(value: object) -> Provider | None:
    """The Provider a provider picklist value names (an int, or its text), or None when it names none."""
    if not isinstance(value, int | float | str) or isinstance(value, bool):
        return None
    try:
        return Provider(int(value))
    except ValueError:
        return None


class AdapterBase:
    """The optional part of DistributorAdapter: every capability off, and its calls refusing with a
    FatalError that names the provider (the engine checks the flag first, so they are a backstop)."""

    provider: Provider
    idempotent_orders = True
    finds_by_reference = False
    uses_order_context = False
    needs_company = False
    sets_auto_renew = False
    schedules_next_term = False
    transitions = False
    lists_azure_entitlements = False
    attests_agreements = False

    def _unsupported(self, what: str) -> FatalError:
        return FatalError(f"{PROVIDER_NAMES[self.provider]} does not offer {what}; make the change in the "
                          "provider's portal")

    def find_orders(self, company_id: str, product_id: str, quantity: int, billing_term: str, since: datetime, *,
                    reference: str = "") -> list[OrderCandidate]:
        raise self._unsupported("an order search")

    def set_auto_renew(self, subscription_id: str, on: bool, idempotency_key: str, *,
                       company_id: str | None = None) -> Subscription | None:
        raise self._unsupported("auto-renew changes")

    def schedule_next_term(self, subscription_id: str, quantity: int, idempotency_key: str, *,
                           company_id: str | None = None, product: dict[str, str] | None = None,
                           custom_term_end: str | None = None) -> Subscription:
        raise self._unsupported("changes at renewal")

    def transition(self, subscription_id: str, to_catalog_item: str, quantity: int, term: str, billing_term: str,
                   idempotency_key: str, *, company_id: str | None = None) -> dict[str, Any]:
        raise self._unsupported("transitions")

    def list_azure_entitlements(self, company_id: str, plan_subscription_id: str) -> list[dict[str, Any]]:
        raise self._unsupported("Azure plan entitlements")

    def attest_customer_agreement(self, company_id: str, contact: dict[str, str], date_agreed: datetime,
                                  idempotency_key: str) -> dict[str, Any]:
        raise self._unsupported("Microsoft Customer Agreement attestation")


def idempotency_key(*parts: object) -> str:
    """A stable key from the parts that identify one intended action (same parts -> same key)."""
    joined = "|".join(str(p) for p in parts)
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()[:32]


def check_term(value: str | None, what: str, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if value not in TERMS:
        raise ValidationError(f"{what} must be one of {', '.join(TERMS)}, got {value!r}")


def check_order(billing_term: str, commitment_term: str | None, quantity: int) -> None:
    """What every place_order refuses before anything is sent."""
    check_term(billing_term, "billing_term")
    check_term(commitment_term, "commitment_term", optional=True)
    if quantity < 1:
        raise ValidationError("quantity must be at least 1")


def check_new_quantity(quantity: int) -> None:
    """A seat change to zero is a cancellation, which every provider asks for differently."""
    if quantity < 1:
        raise ValidationError("quantity must be at least 1; cancel the subscription instead")


def money_or_none(value: Any) -> Decimal | None:
    """A provider's optional amount (a JSON number or a string) as Decimal; absent or empty is None."""
    return None if value is None or value == "" else parse_decimal(value)


def utc_when(value: Any, provider: str) -> datetime | None:
    """A provider's date or date-time as an aware UTC datetime (a date alone is midnight UTC)."""
    try:
        parsed = parse_datetime(value or None)
    except ValueError:
        raise ValidationError(f"{provider} sent an unreadable date {value!r}") from None
    return parsed.astimezone(UTC) if parsed else None
