"""Hosted card entry: a payment link (payments.links) opens the processor's own card page, and the
card the customer typed there is stored on the billing contract. The card number never reaches
us; the customer never sees a token.

1. `start(token, success_url, cancel_url)`: the processor's hosted page for the link's contract
   (Stripe: a Checkout Session in setup mode for the contract's Stripe customer, created on first use).
2. The processor reports the outcome twice, and either is enough:
   - the browser comes back to success_url -> `finish(token, session_ref)`;
   - a signed webhook (Stripe: checkout.session.completed) -> `from_checkout_session(session_ref)`.
   Both read the result back from the processor and store it; the link is then used up, recorded
   with the session that used it, so the second report is a no-op and no other session can reuse it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import payment_methods as contracts
from payments.base import CardProcessor, HostedForm, SavedCard
from payments.links import USED_PREFIX, LinkClaims, verify_token
from shared.blobstore import BlobStore, blob_store_from_settings
from shared.errors import AuthError, ConflictError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)

# Checkout locales we pass on; anything else lets the processor pick from the browser.
_LOCALES = {"en", "es", "fr", "de", "it", "nl", "pt"}


def _processor(name: str, processor: CardProcessor | None) -> CardProcessor:
    if processor is not None:
        return processor
    from payments.processors import processor_for

    return processor_for(name)


def _contract(dv: DataverseClient, number: str) -> contracts.ContractPayment:
    contract = contracts.contract_by_number(dv, number)
    if contract is None:
        raise ValidationError(f"contract {number} no longer exists")
    return contract


def _used_by(store: BlobStore, link_id: str) -> str | None:
    """The session that used the link, "" for a link used some other way, None while unused."""
    path = f"{USED_PREFIX}{link_id}"
    if not store.exists(path):
        return None
    try:
        return str(json.loads(store.get(path)).get("session") or "")
    except ValueError:
        return ""


def start(token: str, *, success_url: str, cancel_url: str, dv: DataverseClient | None = None, processor: CardProcessor | None = None,
          store: BlobStore | None = None) -> HostedForm:
    """The hosted card page for the link's contract. `success_url` carries the processor's
    placeholder for its session id where it has one (Stripe: {CHECKOUT_SESSION_ID})."""
    claims: LinkClaims = verify_token(token)
    store = store or blob_store_from_settings()
    if _used_by(store, claims.link_id) is not None:
        raise ConflictError("this payment link was already used")
    dv = client_or_default(dv)
    contract = _contract(dv, claims.contract_number)
    processor = _processor(contract.processor, processor)
    customer = contract.customer_ref if contract.token and contract.processor == processor.name else ""
    if not customer:
        customer = processor.create_customer(contract.account_name, contract.email, f"link-{claims.link_id}-customer",
                                             reference=contract.number)
    # A new key per visit: each visit opens its own session (sessions expire; a reused one may have).
    return processor.start_card_entry(
        customer_ref=customer, currency=contract.currency, success_url=success_url, cancel_url=cancel_url,
        reference=claims.link_id, contract_number=contract.number,
        idempotency_key=f"link-{claims.link_id}-entry-{secrets.token_hex(6)}",
        locale=contract.language if contract.language in _LOCALES else "auto")


def finish(token: str, session_ref: str, *, dv: DataverseClient | None = None, processor: CardProcessor | None = None,
           store: BlobStore | None = None) -> SavedCard:
    """The customer is back from the hosted page: store the card it saved on the link's contract."""
    claims = verify_token(token)
    dv = client_or_default(dv)
    contract = _contract(dv, claims.contract_number)
    processor = _processor(contract.processor, processor)
    saved: SavedCard = processor.finish_card_entry(session_ref, contract_number=contract.number)
    if saved.reference != claims.link_id:
        raise AuthError("this card entry was started from another payment link")
    _store(dv, store or blob_store_from_settings(), contract, saved, session_ref)
    return saved


def from_checkout_session(session_ref: str, *, dv: DataverseClient | None = None, processor: CardProcessor | None = None,
                          store: BlobStore | None = None) -> str:
    """The processor's webhook said a hosted card entry completed: read it back and store it
    (the customer may have closed the tab before the redirect). Returns what happened."""
    dv = client_or_default(dv)
    processor = _processor("stripe", processor)
    saved: SavedCard = processor.finish_card_entry(session_ref)
    if not saved.reference or not saved.contract_number:
        return "not-ours"  # a session some other integration on the same account opened
    contract = contracts.contract_by_number(dv, saved.contract_number)
    if contract is None:
        return "unknown-contract"
    return _store(dv, store or blob_store_from_settings(), contract, saved, session_ref)


def _store(dv: DataverseClient, store: BlobStore, contract: contracts.ContractPayment, saved: SavedCard, session_ref: str) -> str:
    used = _used_by(store, saved.reference)
    if used == session_ref:
        return "duplicate"
    if used is not None:
        raise ConflictError("this payment link was already used")
    contracts.save_method(dv, contract.id, saved.method.processor, saved.method.token())
    store.put(f"{USED_PREFIX}{saved.reference}", json.dumps(
        {"contract": contract.number, "session": session_ref, "at": int(time.time())}).encode(),
        content_type="application/json")
    log.info("contract %s: %s card ending %s saved through hosted card entry", contract.number, saved.brand,
             saved.last4)
    return "card-saved"


def link_for_invoice(invoice_id: str, *, dv: DataverseClient | None = None, settings: Any = None) -> str:
    """A payment-link token for the contract an invoice is billed on ("Pay with a new card")."""
    from payments.links import create_token

    number = contracts.invoice_contract_number(client_or_default(dv), invoice_id)
    if not number:
        raise ValidationError("the invoice has no billing contract")
    # Short-lived: the customer is at the screen, about to be sent to the card page.
    return create_token(number, ttl_seconds=3600, settings=settings)


def from_payment_profile(customer_ref: str, *, dv: DataverseClient | None = None, processor: CardProcessor | None = None) -> str:
    """Authorize.Net's customer.paymentProfile.created: the newest card of the contract's customer
    profile (read back with getCustomerProfile) becomes the contract's method. No link is used up
    here: the webhook does not know which one; the customer's return does that."""
    dv = client_or_default(dv)
    processor = _processor("authorizenet", processor)
    saved: SavedCard = processor.finish_card_entry(f"{customer_ref}.")
    contract = contracts.contract_by_number(dv, saved.contract_number) if saved.contract_number else None
    if contract is None:
        return "unknown-contract"
    if contract.token == saved.method.token():
        return "duplicate"
    contracts.save_method(dv, contract.id, saved.method.processor, saved.method.token())
    log.info("contract %s: %s card ending %s saved from the processor's webhook", contract.number, saved.brand,
             saved.last4)
    return "card-saved"
