"""What a customer can do in the portal, as plain functions over a PortalRepository.

Refusals raise `Refused(key, **params)`: the key is a message-catalog key so the page can say
why in the customer's language. The new-commerce window maths is billing.newcommerce's, so the
portal refuses exactly what the provisioning worker would refuse (the worker checks again).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billing import newcommerce
from portal.models import (
    Agreement,
    AgreementStatus,
    ChangeRequest,
    ChangeType,
    Contract,
    NewChange,
    PortalUser,
    ProvisioningStatus,
    Subscription,
    SubscriptionStatus,
)
from portal.repository import PortalRepository
from shared.errors import NotFoundError, ValidationError

MAX_SEATS = 100_000  # above any real order; stops a typo from buying a fortune


class Refused(ValidationError):
    """A rule said no. `key` and `params` render the reason in the user's language."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key, code=key, details=params)
        self.key = key
        self.params = params


def parse_quantity(raw: str | None) -> int:
    text = (raw or "").strip()
    if not text.lstrip("-").isdigit():
        raise Refused("error.quantity_not_number")
    value = int(text)
    if value <= 0:
        raise Refused("error.quantity_zero")
    if value > MAX_SEATS:
        raise Refused("error.quantity_too_large", max=MAX_SEATS)
    return value


def _idempotency_key(*parts: object) -> str:
    # A double-clicked form posts the same values twice within the same minute; the key makes
    # the second post find the first change log instead of creating another one.
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:32]


def _subscription(repo: PortalRepository, user: PortalUser, subscription_id: str) -> Subscription:
    sub = repo.get_subscription(user.account_id, subscription_id)
    if sub is None:
        raise NotFoundError("subscription not found")
    return sub


def change_seats(repo: PortalRepository, user: PortalUser, subscription_id: str, raw_quantity: str | None,
                 *, now: datetime | None = None) -> ChangeRequest:
    """Ask for a new seat count. Creates a license change log (origin Portal, Awaiting) that the
    provisioning worker picks up, exactly as for a sales rep's change."""
    now = now or datetime.now(UTC)
    sub = _subscription(repo, user, subscription_id)
    new_quantity = parse_quantity(raw_quantity)
    if sub.status is not SubscriptionStatus.ACTIVE:
        raise Refused("error.not_active")
    if new_quantity == sub.quantity:
        raise Refused("error.quantity_same", quantity=sub.quantity)
    if any(c.status is ProvisioningStatus.AWAITING for c in repo.list_changes(user.account_id, sub.id)):
        raise Refused("error.change_pending")
    if new_quantity < sub.quantity:
        start = sub.start_date or now
        decision = newcommerce.check_quantity_change(
            old_quantity=sub.quantity, new_quantity=new_quantity, start=start, term=sub.term, now=now,
            commitment_end=sub.commitment_end)
        if not decision.allowed:
            closes = newcommerce.reduction_window_closes(start, sub.term, now, sub.commitment_end)
            raise Refused("error.reduction_window", closed=closes)
    change = NewChange(
        subscription_id=sub.id,
        change_type=ChangeType.INCREASE if new_quantity > sub.quantity else ChangeType.DECREASE,
        old_quantity=sub.quantity, new_quantity=new_quantity, requested_by=user.email or user.contact_id,
        effective=now, idempotency_key=_idempotency_key("seats", sub.id, sub.quantity, new_quantity,
                                                        now.strftime("%Y%m%d%H%M")),
        old_price=sub.unit_price, new_price=sub.unit_price,
    )
    return repo.create_change(user.account_id, change)


def mca_attested(repo: PortalRepository, account_id: str) -> bool:
    return is_attested(repo.get_agreement(account_id))


def is_attested(agreement: Agreement | None) -> bool:
    return agreement is not None and agreement.status is AgreementStatus.ATTESTED


def buy(repo: PortalRepository, user: PortalUser, contract_id: str, unit_key: str, raw_quantity: str | None,
        *, now: datetime | None = None) -> ChangeRequest:
    """Order a portal-visible product from the contract's price list: a pending subscription plus a
    New change log, provisioned by the same worker as every other change."""
    now = now or datetime.now(UTC)
    contract = repo.get_contract(user.account_id, contract_id)
    if contract is None:
        raise NotFoundError("contract not found")
    offer = next((o for o in repo.list_offers(user.account_id, contract.id)
                  if f"{o.product_id}:{o.unit_id}" == unit_key), None)
    if offer is None:
        raise NotFoundError("product not found")
    quantity = parse_quantity(raw_quantity)
    if not mca_attested(repo, user.account_id):
        raise Refused("error.mca_required")
    term, frequency = term_and_frequency(offer.unit_name)
    sub = repo.create_pending_subscription(user.account_id, contract, offer, quantity, term, frequency)
    change = NewChange(
        subscription_id=sub.id, change_type=ChangeType.NEW, old_quantity=0, new_quantity=quantity,
        requested_by=user.email or user.contact_id, effective=now,
        idempotency_key=_idempotency_key("buy", sub.id, quantity), new_price=offer.price,
    )
    return repo.create_change(user.account_id, change)


def term_and_frequency(unit_name: str) -> tuple[str, str]:
    """Units are named "<term> <billing>" (e.g. "P1Y monthly"), per the catalog's unit schedule."""
    parts = unit_name.split()
    term = parts[0] if parts and parts[0] in newcommerce.TERM_MONTHS else "P1M"
    cycle = parts[1].lower() if len(parts) > 1 else "monthly"
    return term, newcommerce.BILLING_CYCLE_TO_FREQUENCY.get(cycle, "P1M")


# -- other areas' services, resolved when first used so the portal starts without them ---------

def _resolve(target: str) -> Callable[..., Any]:
    module, attr = target.split(":")
    service: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return service


@dataclass
class Integrations:
    """Calls into the sync (MCA) and payments areas. Tests and the demo can pass their own."""

    attest_mca: Callable[..., Any] | None = None
    create_payment_link: Callable[..., Any] | None = None
    redeem_payment_link: Callable[..., Any] | None = None
    # (invoice, account) -> PDF bytes: the accounting area's invoice document.
    invoice_pdf: Callable[..., bytes] | None = None
    # (invoice, account, payment, the invoice's payment history) -> PDF bytes: the receipt of one succeeded
    # payment, with the balance right after it.
    receipt_pdf: Callable[..., bytes] | None = None
    # (invoice, purpose) -> payments.service.ChargeOutcome: charge the saved method.
    pay_invoice: Callable[..., Any] | None = None
    # Hosted card entry (payments.card_entry): (token, success_url, cancel_url) -> payments.base.HostedForm,
    # (token, session_ref) -> payments.base.SavedCard, (invoice) -> a payment-link token for its contract.
    start_card_entry: Callable[..., Any] | None = None
    finish_card_entry: Callable[..., Any] | None = None
    invoice_card_link: Callable[..., str] | None = None
    # (invoice) -> [dataverse.stores.payments.Payment]: the payments recorded on it.
    payment_history: Callable[..., list[Any]] | None = None
    # (invoice, payment key) -> payments.service.ChargeOutcome | None: one attempt's outcome now, for the
    # customer coming back from the bank's page (payments.service.attempt_outcome).
    payment_outcome: Callable[..., Any] | None = None
    # (invoice, purpose, cancel_url) -> payments.base.HostedForm | None: pay and save the card at once on the
    # processor's page (payments.hosted_payment: Authorize.Net Accept Hosted); None where it has none.
    hosted_payment: Callable[..., Any] | None = None

    def mca(self) -> Callable[..., Any]:
        return self.attest_mca or _resolve("sync.mca:attest")

    def link(self) -> Callable[..., Any]:
        return self.create_payment_link or _resolve("payments.links:create_payment_link")

    def redeem(self) -> Callable[..., Any]:
        return self.redeem_payment_link or _resolve("payments.service:redeem")

    def pay(self) -> Callable[..., Any]:
        if self.pay_invoice is None:
            raise Refused("error.pay_unavailable")
        return self.pay_invoice

    def card_entry(self) -> Callable[..., Any]:
        if self.start_card_entry is None:
            raise Refused("error.pay_unavailable")
        return self.start_card_entry

    def card_saved(self) -> Callable[..., Any]:
        if self.finish_card_entry is None:
            raise Refused("error.pay_unavailable")
        return self.finish_card_entry

    def card_link(self) -> Callable[..., str]:
        if self.invoice_card_link is None:
            raise Refused("error.pay_unavailable")
        return self.invoice_card_link

    def history(self, invoice: Any) -> list[Any]:
        return list(self.payment_history(invoice)) if self.payment_history is not None else []

    def pay_on_hosted_page(self, invoice: Any, purpose: str, cancel_url: str) -> Any:
        return self.hosted_payment(invoice, purpose, cancel_url) if self.hosted_payment is not None else None

    def outcome(self, invoice: Any, key: str) -> Any:
        return self.payment_outcome(invoice, key) if self.payment_outcome is not None else None

    def pdf(self) -> Callable[..., bytes]:
        return self.invoice_pdf or _resolve("accounting.portal_document:portal_invoice_pdf")

    def receipt(self) -> Callable[..., bytes]:
        return self.receipt_pdf or _resolve("accounting.portal_document:portal_receipt_pdf")


def accept_mca(repo: PortalRepository, user: PortalUser, integrations: Integrations) -> Any:
    """The sync area's answer (sync.mca.AttestResult over Dataverse): status "Failed" carries the
    provider's reason."""
    contact = repo.get_contact(user.contact_id)
    if contact is None:
        raise NotFoundError("contact not found")
    return integrations.mca()(account_id=user.account_id, contact_id=contact.id, email=contact.email,
                       first_name=contact.first_name, last_name=contact.last_name)


def payment_link(repo: PortalRepository, user: PortalUser, contract_id: str, integrations: Integrations) -> str:
    contract: Contract | None = repo.get_contract(user.account_id, contract_id)
    if contract is None:
        raise NotFoundError("contract not found")
    # The payments area answers with the link URL (.../pay/<token>); the portal serves that page
    # itself, so only the token matters here (the URL's host may be the Functions host's).
    result = str(integrations.link()(contract))
    return result.rsplit("/pay/", 1)[-1]


# Processor refusal texts (Stripe decline codes, Authorize.Net reasons) -> a plain-words message key.
_DECLINES = (
    (("paid by another payment",), "pay.declined.superseded"),  # payments.service.SUPERSEDED
    (("insufficient_funds", "insufficient funds"), "pay.declined.insufficient_funds"),
    (("expired_card", "expired"), "pay.declined.expired_card"),
    (("incorrect_cvc", "security code", "cvc"), "pay.declined.incorrect_cvc"),
    (("lost_card", "stolen_card", "lost", "stolen"), "pay.declined.lost_card"),
    (("processing_error",), "pay.declined.processing_error"),
    (("authentication_failure", "failed authentication"), "pay.declined.authentication_failed"),
)


def decline_key(message: str) -> str:
    text = (message or "").lower()
    for needles, key in _DECLINES:
        if any(n in text for n in needles):
            return key
    return "pay.declined.generic"
