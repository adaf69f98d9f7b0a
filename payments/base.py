"""The payment processor port. Only processor tokens are stored (customer / payment method
ids), never card data. Amounts are Decimal in the invoice currency; adapters convert to the
processor's units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from distributors.base import idempotency_key

SUCCEEDED = "succeeded"
FAILED = "failed"
PENDING = "pending"
# The card's bank wants the customer to authenticate (3-D Secure): nothing was taken yet, and
# ChargeResult.action_url is where the customer finishes it.
REQUIRES_ACTION = "requires_action"
# Stripe metadata names (a wire contract with Stripe, not Dataverse columns): our payment key, which a
# webhook event is matched back by, and the invoice key for people reading the Stripe dashboard.
METADATA_PAYMENT_KEY = "cspb_paymentkey"
METADATA_REFERENCE = "cspb_reference"


@dataclass(frozen=True)
class StoredMethod:
    """What a contract keeps as its payment token: the processor's customer + method references."""

    processor: str
    customer_ref: str
    method_ref: str

    def token(self) -> str:
        return f"{self.customer_ref}/{self.method_ref}"

    @classmethod
    def parse(cls, processor: str, token: str) -> StoredMethod:
        from shared.errors import ValidationError

        customer, sep, method = (token or "").partition("/")
        if not sep or not customer or not method:
            raise ValidationError("the contract's payment token is missing or malformed")
        return cls(processor, customer, method)


def payment_key(invoice_id: str, purpose: str) -> str:
    """Our key for one attempt to pay an invoice ("autocharge", "portal-<attempt>", ...): the payment row's
    alternate key and the processor's idempotency key, so a retried attempt never pays twice."""
    return "pay-" + idempotency_key(invoice_id, purpose)


@dataclass(frozen=True)
class ChargeResult:
    status: str  # succeeded | failed | pending | requires_action
    amount: Decimal
    currency: str
    processor_payment_id: str = ""
    error: str = ""  # plain words for the invoice, e.g. "Your card was declined."
    replayed: bool = False
    details: dict[str, str] = field(default_factory=dict)
    action_url: str = ""  # requires_action: the page where the customer authenticates


@runtime_checkable
class PaymentProcessor(Protocol):
    name: str  # "stripe" | "authorizenet"

    def save_method(self, customer_name: str, email: str, method_token: str, idempotency_key: str) -> StoredMethod:
        """Turn a one-time token from the browser into a reusable stored method."""
        ...

    def charge(self, method: StoredMethod, amount: Decimal, currency: str, idempotency_key: str, *,
               description: str = "", reference: str = "", return_url: str = "") -> ChargeResult:
        """Charge once per idempotency key: the same key never takes money twice. `return_url` is where
        the customer lands after a bank's authentication step (3-D Secure), if the processor has one.

        Declines come back as ChargeResult(status="failed"); transient trouble raises RetriableError."""
        ...

    def transaction_status(self, processor_payment_id: str, amount: Decimal, currency: str) -> ChargeResult:
        """The outcome now of a charge the processor already took (held for review, waiting for 3-D
        Secure): read, never charged again."""
        ...

    # Whether cancel_payment can withdraw an attempt still waiting for the customer (Stripe: a
    # PaymentIntent in requires_action). Where False, cancel_payment raises FatalError.
    cancels_payments: bool

    def cancel_payment(self, processor_payment_id: str) -> None:
        ...


# Put in a card-entry success URL where the processor's session reference goes back to us: Stripe fills in
# its own placeholder (https://docs.stripe.com/payments/checkout/custom-success-page), other adapters
# replace it with their reference before handing the URL over.
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


@dataclass(frozen=True)
class HostedForm:
    """Where the customer's browser goes to type a card on the processor's own page. GET: a plain
    redirect to `url` (Stripe Checkout). POST: a form posting `fields` to `url` (Authorize.Net
    Accept Hosted posts its page token)."""

    url: str
    method: str = "GET"
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SavedCard:
    """A card the customer entered on the hosted page, as the processor reports it."""

    method: StoredMethod
    reference: str  # our link id, carried through the processor (metadata / refId) and checked on return
    contract_number: str = ""
    brand: str = ""
    last4: str = ""


class CardProcessor(PaymentProcessor, Protocol):
    """A processor whose own hosted page takes the card (Stripe Checkout, Authorize.Net Accept Hosted):
    what payments/card_entry.py drives. Both processors we ship are one."""

    def create_customer(self, customer_name: str, email: str, idempotency_key: str, *, reference: str = "") -> str:
        ...

    def start_card_entry(self, *, customer_ref: str, currency: str, success_url: str, cancel_url: str,
                         reference: str, contract_number: str, idempotency_key: str, locale: str = "") -> HostedForm:
        ...

    def finish_card_entry(self, session_ref: str, *, contract_number: str = "") -> SavedCard:
        ...


class CardEntryIncomplete(Exception):
    """The hosted page has not produced a saved card (still open, cancelled or expired)."""

    def __init__(self, status: str) -> None:
        super().__init__(f"card entry is {status}")
        self.status = status
