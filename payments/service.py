"""Payment use cases: charge an invoice (auto-charge or a partial payment), redeem a payment
link, apply a processor webhook. Each records its outcome on the invoice in Dataverse.

Exactly-once money: the idempotency key is derived from the invoice id and the purpose of the
attempt ("autocharge", "portal-1", ...), so a retried or duplicated call reuses it. A payment
row is written Pending before the processor is called, so a crash in between is resumed with
the same key (the processor replays) rather than charging anew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from billing.money import round_money
from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import contracts, inbox
from payments import invoice_records as records
from payments.base import (
    FAILED,
    METADATA_PAYMENT_KEY,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    PaymentProcessor,
    StoredMethod,
    payment_key,
)
from payments.links import LinkClaims, consume, create_payment_link, invoice_page_url, verify_token
from payments.processors import processor_for
from shared.blobstore import BlobStore, blob_store_from_settings
from shared.errors import ConflictError, IntegrationError, RetriableError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)

__all__ = ["charge_invoice", "redeem", "create_payment_link", "apply_webhook_event", "processor_for",
           "ChargeOutcome", "payment_key", "handle_stripe_webhook", "attempt_outcome", "invoice_attempts"]


@dataclass(frozen=True)
class ChargeOutcome:
    status: str  # succeeded | failed | pending | requires_action | expired | nothing_due | no_method
    amount: Decimal
    key: str = ""
    message: str = ""
    replayed: bool = False
    balance: Decimal = Decimal("0")
    action_url: str = ""  # requires_action: the customer's link to finish authenticating


def charge_invoice(invoice_id: str, *, amount: Decimal | None = None, purpose: str = "autocharge", dv: DataverseClient | None = None,
                   processor: PaymentProcessor | None = None, today: date | None = None) -> ChargeOutcome:
    """Charge the contract's stored payment method for `amount` (default: the whole balance),
    capped at the balance. RetriableError propagates (the caller's queue retries with the same key).
    `today`: the run's day, the payment date of a charge that succeeds (default: the UTC date)."""
    dv = client_or_default(dv)
    invoice = records.load_invoice(dv, invoice_id)
    key = payment_key(invoice_id, purpose)
    existing = records.payment_row(dv, key)
    if existing is not None and existing.status == records.PAYMENT_SUCCEEDED:
        return ChargeOutcome(SUCCEEDED, existing.amount, key, "already charged",
                             replayed=True, balance=invoice.balance)
    if existing is not None and existing.status == records.PAYMENT_FAILED:
        # The processor would replay the same refusal for this key; a new attempt needs a new purpose.
        return ChargeOutcome(FAILED, existing.amount, key, existing.error,
                             replayed=True, balance=invoice.balance)
    if existing is not None and _on_payment_page(existing):
        # The key is a hosted payment page's attempt: its money comes from that page (the webhook or the
        # return settles it). Charging the saved card under it too would take the page's payment on top.
        return ChargeOutcome("expired" if existing.status == records.PAYMENT_EXPIRED else "pending", existing.amount,
                             key, existing.error, replayed=True, balance=invoice.balance)
    contract = records.load_contract(dv, invoice)
    processor_name = contract.payment_provider or "stripe"
    if existing is not None:
        # Resume a crashed attempt with exactly what was asked the first time.
        due = existing.amount
    else:
        due = invoice.balance if amount is None else min(round_money(amount, invoice.currency), invoice.balance)
    if due <= 0:
        return ChargeOutcome("nothing_due", Decimal("0"), key, "the invoice has no balance", balance=invoice.balance)
    token = contract.payment_token
    if not token:
        records.write_payment(dv, invoice, key, amount=due, processor=processor_name, status=records.PAYMENT_FAILED,
                              error="No payment method on file for this contract.")
        records.refresh_payment_totals(dv, invoice, last_attempt_failed=True)
        return ChargeOutcome("no_method", due, key, "No payment method on file for this contract.",
                             balance=invoice.balance)
    method = StoredMethod.parse(processor_name, token)
    processor = processor or processor_for(processor_name)
    held = existing.processor_payment_id if existing is not None else ""
    if not held:
        records.write_payment(dv, invoice, key, amount=due, processor=processor.name, status=records.PAYMENT_PENDING)
    try:
        if held:
            # The processor took the charge and holds it (e.g. Authorize.Net's review): read its
            # outcome; charging again could take the money twice.
            result: ChargeResult = processor.transaction_status(held, due, invoice.currency)
        else:
            # After a 3-D Secure step the bank sends the customer back to this invoice's page, naming the attempt.
            result = processor.charge(method, due, invoice.currency, key,
                                      description=f"Invoice {invoice.number}", reference=invoice.key,
                                      return_url=invoice_page_url(invoice.id, payment_key=key))
    except RetriableError:
        raise  # the Pending row stays; the retry resumes with the same key
    except IntegrationError as exc:
        records.write_payment(dv, invoice, key, amount=due, processor=processor.name, status=records.PAYMENT_FAILED,
                              error=str(exc)[:2000])
        refreshed = records.refresh_payment_totals(dv, invoice, last_attempt_failed=True)
        return ChargeOutcome(FAILED, due, key, str(exc), balance=refreshed.balance)
    if result.status == REQUIRES_ACTION:
        # Nothing taken yet: the invoice stays unpaid, the attempt is recorded Pending (settle_held or
        # the processor's webhook learns the outcome) with the reason and the customer's link.
        reason = f"{result.error} Link for the customer: {result.action_url}" if result.action_url else result.error
        records.write_payment(dv, invoice, key, amount=due, processor=processor.name, status=records.PAYMENT_PENDING,
                              processor_payment_id=result.processor_payment_id, error=reason)
        refreshed = records.refresh_payment_totals(dv, invoice)
        log.info("invoice %s charge %s: the customer must authenticate", invoice.number, key)
        return ChargeOutcome(REQUIRES_ACTION, due, key, result.error, replayed=result.replayed,
                             balance=refreshed.balance, action_url=result.action_url)
    succeeded = result.status == SUCCEEDED
    records.write_payment(dv, invoice, key, amount=due, processor=processor.name,
                          status=records.PAYMENT_SUCCEEDED if succeeded else
                          records.PAYMENT_PENDING if result.status == "pending" else records.PAYMENT_FAILED,
                          processor_payment_id=result.processor_payment_id, error=result.error,
                          paid_on=(today or datetime.now(UTC).date()) if succeeded else None)
    refreshed = records.refresh_payment_totals(dv, invoice, last_attempt_failed=result.status == FAILED)
    if succeeded and refreshed.balance <= 0:
        _cancel_superseded(dv, refreshed, key, processor)
    log.info("invoice %s charge %s: %s", invoice.number, key, result.status)
    return ChargeOutcome(result.status, due, key, result.error, replayed=result.replayed, balance=refreshed.balance)


SUPERSEDED = "Cancelled: the invoice was paid by another payment."


def _cancel_superseded(dv: DataverseClient, invoice: records.InvoiceDoc, paid_key: str,
                       processor: PaymentProcessor) -> None:
    """The invoice is paid: cancel the attempts still waiting for the customer (a 3-D Secure link sent
    earlier), so following that old link later cannot take the money a second time."""
    from dataverse.stores import payments as payment_rows

    if not processor.cancels_payments:
        return
    for attempt in payment_rows.for_invoice(dv, invoice.id):
        if attempt.key == paid_key or attempt.state != "pending" or not attempt.processor_payment_id \
                or attempt.processor != processor.name:
            continue
        try:
            processor.cancel_payment(attempt.processor_payment_id)
        except IntegrationError as exc:  # it may have just succeeded: then its webhook records it (overpaid)
            log.warning("invoice %s: could not cancel the earlier attempt %s: %s", invoice.number, attempt.key, exc)
            continue
        records.write_payment(dv, invoice, attempt.key, amount=attempt.amount, processor=attempt.processor,
                              status=records.PAYMENT_FAILED, processor_payment_id=attempt.processor_payment_id,
                              error=SUPERSEDED)


def settle_held(*, dv: DataverseClient | None = None, processors: dict[str, PaymentProcessor] | None = None,
                now: datetime | None = None) -> list[dict[str, str]]:
    """Read the outcome of every held charge (a Pending payment the processor took, e.g. one
    Authorize.Net holds for review) and record it on the invoice; then close the hosted payment page
    attempts left unpaid past the page's lifetime at `now` (Expired, unless the processor has a
    transaction for one after all: then that is recorded). Never charges: the money either moved or
    did not, and the processor says which."""
    from payments import hosted_payment

    dv = client_or_default(dv)
    processors = dict(processors or {})

    def processor_named(name: str) -> PaymentProcessor:
        if name not in processors:
            processors[name] = processor_for(name)
        return processors[name]

    settled = []
    for row in records.held_payments(dv):
        processor = processor_named(row.processor)
        invoice = records.load_invoice(dv, row.invoice_id or "")
        result = processor.transaction_status(row.processor_payment_id, row.amount, invoice.currency)
        if result.status in ("pending", REQUIRES_ACTION):  # the customer has not authenticated yet
            settled.append({"invoice": invoice.number, "payment": row.key, "status": "pending"})
            continue
        _record_decided(dv, invoice, row, result)
        settled.append({"invoice": invoice.number, "payment": row.key, "status": result.status})
    now = now or datetime.now(UTC)
    for row in hosted_payment.waiting_attempts(dv):
        if hosted_payment.abandoned(row, now):  # a page still open is left to its webhook or return
            invoice = records.load_invoice(dv, row.invoice_id or "")
            outcome = _settle_page(dv, invoice, row, processor_named(row.processor), now)
            settled.append({"invoice": invoice.number, "payment": row.key, "status": outcome.status})
    return settled


def _record_decided(dv: DataverseClient, invoice: records.InvoiceDoc, row: records.Payment,
                    result: ChargeResult) -> records.InvoiceDoc:
    """A held attempt the processor has now decided: record it and recompute the invoice's totals."""
    succeeded = result.status == SUCCEEDED
    records.write_payment(dv, invoice, row.key, amount=row.amount, processor=row.processor,
                          status=records.PAYMENT_SUCCEEDED if succeeded else records.PAYMENT_FAILED,
                          processor_payment_id=result.processor_payment_id or row.processor_payment_id,
                          error=result.error, paid_on=date.today() if succeeded else None)
    return records.refresh_payment_totals(dv, invoice, last_attempt_failed=not succeeded)


def attempt_outcome(invoice_id: str, key: str, *, dv: DataverseClient | None = None,
                    processor: PaymentProcessor | None = None) -> ChargeOutcome | None:
    """One attempt on this invoice as it stands now, for the customer coming back from their bank's page
    (3-D Secure) or from card entry: a held attempt is read back from the processor and recorded, so the
    page shows the outcome without waiting for the webhook. None when `key` is not an attempt on the invoice."""
    dv = client_or_default(dv)
    row = records.payment_row(dv, key)
    if row is None or row.invoice_id != invoice_id:
        return None
    invoice = records.load_invoice(dv, invoice_id)
    if row.status == records.PAYMENT_SUCCEEDED:
        return ChargeOutcome(SUCCEEDED, row.amount, key, balance=invoice.balance)
    if row.status == records.PAYMENT_FAILED:
        return ChargeOutcome(FAILED, row.amount, key, row.error, balance=invoice.balance)
    processor = processor or processor_for(row.processor or "stripe")
    if not row.processor_payment_id:
        return _settle_page(dv, invoice, row, processor, datetime.now(UTC))
    result = processor.transaction_status(row.processor_payment_id, row.amount, invoice.currency)
    return _apply_outcome(dv, invoice, row, result, processor)


def _on_payment_page(row: records.Payment) -> bool:
    """An attempt handed to a processor's payment page (Accept Hosted) and not charged by us."""
    from payments import hosted_payment

    return (not row.processor_payment_id and row.status in (records.PAYMENT_PENDING, records.PAYMENT_EXPIRED)
            and row.error in (hosted_payment.WAITING, hosted_payment.EXPIRED))


def _settle_page(dv: DataverseClient, invoice: records.InvoiceDoc, row: records.Payment,
                 processor: PaymentProcessor, now: datetime) -> ChargeOutcome:
    """An attempt with no processor reference yet: the customer was sent to a payment page (Accept Hosted).
    A transaction made there is recorded whenever it is found, even on an attempt that expired meanwhile
    (settlement wins); with none, an attempt whose page ran out at `now` expires."""
    from payments import hosted_payment
    from payments.authorizenet import AuthorizeNetProcessor

    if not isinstance(processor, AuthorizeNetProcessor):
        return ChargeOutcome("pending", row.amount, row.key, row.error, balance=invoice.balance)
    found = hosted_payment.settle_waiting(dv, invoice, row, processor)
    if found is not None:
        return _apply_outcome(dv, invoice, row, found, processor)
    if row.status == records.PAYMENT_EXPIRED:
        return ChargeOutcome("expired", row.amount, row.key, row.error, balance=invoice.balance)
    if hosted_payment.abandoned(row, now):
        hosted_payment.expire(dv, invoice, row)
        return ChargeOutcome("expired", row.amount, row.key, hosted_payment.EXPIRED, balance=invoice.balance)
    return ChargeOutcome("pending", row.amount, row.key, row.error, balance=invoice.balance)


def _apply_outcome(dv: DataverseClient, invoice: records.InvoiceDoc, row: records.Payment, result: ChargeResult,
                   processor: PaymentProcessor) -> ChargeOutcome:
    """What the processor now says of an attempt we had Pending (or Expired), recorded on the invoice."""
    key = row.key
    if result.status == REQUIRES_ACTION:
        return ChargeOutcome(REQUIRES_ACTION, row.amount, key, result.error, balance=invoice.balance,
                             action_url=result.action_url)
    if result.status == "pending":
        if result.processor_payment_id and not row.processor_payment_id:  # held: settle_held takes it on
            records.write_payment(dv, invoice, key, amount=row.amount, processor=row.processor,
                                  status=records.PAYMENT_PENDING, processor_payment_id=result.processor_payment_id,
                                  error=result.error)
        return ChargeOutcome("pending", row.amount, key, result.error, balance=invoice.balance)
    refreshed = _record_decided(dv, invoice, row, result)
    if result.status == SUCCEEDED and refreshed.balance <= 0:
        _cancel_superseded(dv, refreshed, key, processor)
    return ChargeOutcome(result.status, row.amount, key, result.error, balance=refreshed.balance)


def invoice_attempts(invoice_id: str, *, dv: DataverseClient | None = None, now: datetime | None = None,
                     processor: PaymentProcessor | None = None) -> list[records.Payment]:
    """The invoice's payment attempts, oldest first, as a customer is shown them: a hosted payment page
    attempt left unpaid past the page's lifetime is first settled (a transaction was made after all) or
    expired, so it does not read as pending forever. If the processor cannot be asked right now, the
    attempt stays as it is until the next read or sweep."""
    from dataverse.stores import payments as payment_rows
    from payments import hosted_payment

    dv = client_or_default(dv)
    rows = payment_rows.for_invoice(dv, invoice_id)
    now = now or datetime.now(UTC)
    stale = [row for row in rows if hosted_payment.abandoned(row, now)]
    if not stale:
        return rows
    invoice = records.load_invoice(dv, invoice_id)
    try:
        processor = processor or processor_for(stale[0].processor)
        for row in stale:
            _settle_page(dv, invoice, row, processor, now)
    except IntegrationError as exc:
        log.warning("invoice %s: could not settle an abandoned payment page yet: %s", invoice.number, exc)
    return payment_rows.for_invoice(dv, invoice_id)


def redeem(token: str, payment_method_token: str, *, dv: DataverseClient | None = None, processor: PaymentProcessor | None = None,
           store: BlobStore | None = None) -> StoredMethod:
    """Store a payment method on the contract named by a payment link; the link works once."""
    claims: LinkClaims = verify_token(token)
    store = store or blob_store_from_settings()
    if store.exists(f"payment-links/used/{claims.link_id}"):
        raise ConflictError("this payment link was already used")
    if not payment_method_token:
        raise ValidationError("no payment method token was given")
    dv = client_or_default(dv)
    contract = contracts.by_number(dv, claims.contract_number)
    if contract is None:
        raise ValidationError(f"contract {claims.contract_number} no longer exists")
    processor = processor or processor_for(contract.payment_provider or "stripe")
    account = records.load_account(dv, contract.account_id)
    contact = records.billing_contact(dv, contract)
    method = processor.save_method(account.name or claims.contract_number,
                                   (contact.email if contact else "") or account.email,
                                   payment_method_token, f"link-{claims.link_id}")
    contracts.set_payment_method(dv, contract.id, token=method.token(), provider=processor.name)
    consume(claims, store)
    return method


def apply_webhook_event(event: dict[str, Any], *, dv: DataverseClient | None = None) -> str:
    """Apply a verified Stripe event to the payment it belongs to (found by our key in metadata).

    Webhooks are hints about state we already asked for: only payments we recorded are updated,
    and totals are recomputed, so a duplicate delivery changes nothing."""
    kind = event.get("type", "")
    obj = (event.get("data") or {}).get("object") or {}
    if kind == "checkout.session.completed" and obj.get("mode") == "setup" and obj.get("id"):
        # A card saved on Stripe's hosted page: read back from Stripe and stored on the contract.
        from payments import card_entry

        return card_entry.from_checkout_session(str(obj["id"]), dv=dv)
    key = (obj.get("metadata") or {}).get(METADATA_PAYMENT_KEY)
    if kind not in ("payment_intent.succeeded", "payment_intent.payment_failed") or not key:
        return "ignored"
    dv = client_or_default(dv)
    row = records.payment_row(dv, key)
    if row is None or not row.invoice_id:
        return "unknown-payment"
    invoice = records.load_invoice(dv, row.invoice_id)
    succeeded = kind == "payment_intent.succeeded"
    if row.status == records.PAYMENT_SUCCEEDED and succeeded:
        return "duplicate"
    error = ((obj.get("last_payment_error") or {}).get("message") or "payment failed") if not succeeded else ""
    records.write_payment(dv, invoice, key, amount=row.amount, processor="stripe",
                          status=records.PAYMENT_SUCCEEDED if succeeded else records.PAYMENT_FAILED,
                          processor_payment_id=obj.get("id", ""), error=error,
                          paid_on=date.today() if succeeded else None)
    records.refresh_payment_totals(dv, invoice, last_attempt_failed=not succeeded)
    return "applied"


@dataclass(frozen=True)
class WebhookReply:
    status: int
    body: dict[str, Any]


def handle_stripe_webhook(body: bytes, headers: dict[str, str], *, dv: DataverseClient | None = None,
                          secret: str | None = None) -> WebhookReply:
    """Verify, store in the inbox (dedupe on the event id), apply. Stripe's docs ask for a 2xx
    quickly and a 400 when the signature cannot be verified; a 5xx makes Stripe retry, which is
    what a RetriableError becomes at the host."""
    from payments.webhooks import SignatureError, verify
    from shared.config import get_settings

    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = verify(body, lowered.get("stripe-signature"),
                       secret if secret is not None else get_settings().stripe_webhook_secret.reveal())
    except SignatureError as exc:
        return WebhookReply(400, {"error": f"signature verification failed: {exc.message}"})
    except ValidationError as exc:
        return WebhookReply(400, {"error": exc.message})
    if not event.get("id"):
        return WebhookReply(400, {"error": "event has no id"})
    dv = client_or_default(dv)
    key = f"stripe:{event['id']}"
    delivery = inbox.ProcessorDelivery(f"stripe {event.get('type', '')}", "stripe", event.get("type", ""),
                                       body.decode("utf-8", "replace")[:100000], datetime.now(UTC))
    if not inbox.receive_processor_delivery(dv, key, delivery):
        return WebhookReply(200, {"status": "duplicate"})
    try:
        outcome = apply_webhook_event(event, dv=dv)
    except IntegrationError as exc:
        inbox.settle_processor_delivery(dv, key, str(exc)[:4000])
        if isinstance(exc, RetriableError):
            raise
        return WebhookReply(200, {"status": "failed", "error": exc.message})
    inbox.settle_processor_delivery(dv, key)
    return WebhookReply(200, {"status": outcome})
