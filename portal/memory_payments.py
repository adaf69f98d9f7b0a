"""Getting paid in the in-memory portal (`cspbridge portal --memory`): a real processor adapter (the
local Stripe sandbox, started in-process by `local_stripe`) with the contracts' saved cards and the
payment attempts kept in memory, so a new user can add a card on the hosted page and pay an invoice
without Dataverse. The rules are the production ones, kept small: one attempt per payment key (the
processor's idempotency key), the balance recomputed from the succeeded attempts, a held attempt read
back from the processor when the customer returns. Nothing here runs in production; the Dataverse
wiring is portal.wiring.integrations_for."""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.models import PaymentStatus
from dataverse.stores.payments import Payment
from dataverse.tables import PaymentStatus as AttemptStatus
from payments.base import (
    FAILED,
    REQUIRES_ACTION,
    SUCCEEDED,
    ChargeResult,
    HostedForm,
    SavedCard,
    StoredMethod,
)
from payments.links import create_payment_link, create_token, invoice_page_url, verify_token
from payments.service import ChargeOutcome, payment_key
from payments.stripe_adapter import StripeProcessor
from portal.models import Contract, Invoice
from portal.repository import InMemoryRepository
from portal.services import Integrations
from shared.config import Settings
from shared.errors import AuthError, ConflictError, IntegrationError, RetriableError, ValidationError

# The seed's contracts that show a card "On file" get this Stripe test card on first use.
SEEDED_CARD = "pm_card_visa"
_STATUS = {SUCCEEDED: AttemptStatus.SUCCEEDED, FAILED: AttemptStatus.FAILED}


class MemoryPayments:
    def __init__(self, repo: InMemoryRepository, processor: StripeProcessor, settings: Settings) -> None:
        self.repo = repo
        self.processor = processor
        self.settings = settings
        self._lock = threading.RLock()
        self.customers: dict[str, str] = {}  # contract id -> the processor's customer
        self.methods: dict[str, StoredMethod] = {}  # contract id -> the saved card
        self.used_links: dict[str, str] = {}  # payment-link id -> the card-entry session that used it
        self.attempts: dict[str, Payment] = {}  # our payment key -> the attempt

    # -- card entry ----------------------------------------------------------------------------
    def _contract(self, number: str) -> Contract:
        found = next((c for c in self.repo.contracts.values() if c.number == number), None)
        if found is None:
            raise ValidationError(f"contract {number} no longer exists")
        return found

    def _customer(self, contract: Contract, key: str) -> str:
        if contract.id not in self.customers:
            account = self.repo.get_account(contract.account_id)
            name = account.name if account else contract.number
            self.customers[contract.id] = self.processor.create_customer(
                name, account.email if account else "", key, reference=contract.number)
        return self.customers[contract.id]

    def start(self, token: str, success_url: str, cancel_url: str) -> HostedForm:
        claims = verify_token(token, settings=self.settings)
        with self._lock:
            if claims.link_id in self.used_links:
                raise ConflictError("this payment link was already used")
            contract = self._contract(claims.contract_number)
            customer = self._customer(contract, f"link-{claims.link_id}-customer")
        return self.processor.start_card_entry(
            customer_ref=customer, currency=contract.currency, success_url=success_url, cancel_url=cancel_url,
            reference=claims.link_id, contract_number=contract.number,
            idempotency_key=f"link-{claims.link_id}-entry-{secrets.token_hex(6)}", locale=contract.language)

    def finish(self, token: str, session_ref: str) -> SavedCard:
        claims = verify_token(token, settings=self.settings)
        contract = self._contract(claims.contract_number)
        saved: SavedCard = self.processor.finish_card_entry(session_ref, contract_number=contract.number)
        if saved.reference != claims.link_id:
            raise AuthError("this card entry was started from another payment link")
        with self._lock:
            used = self.used_links.get(claims.link_id)
            if used is not None and used != session_ref:
                raise ConflictError("this payment link was already used")
            self.used_links[claims.link_id] = session_ref
            self.methods[contract.id] = saved.method
            self.repo.contracts[contract.id] = replace(contract, has_payment_method=True)
        return saved

    def link_for_invoice(self, invoice: Invoice) -> str:
        return create_token(self._invoice_contract(invoice).number, ttl_seconds=3600, settings=self.settings)

    # -- paying --------------------------------------------------------------------------------
    def _invoice_contract(self, invoice: Invoice) -> Contract:
        contracts = self.repo.list_contracts(invoice.account_id)
        found = next((c for c in contracts if c.currency == invoice.currency), contracts[0] if contracts else None)
        if found is None:
            raise ValidationError("the invoice has no billing contract")
        return found

    def _method(self, contract: Contract) -> StoredMethod | None:
        method = self.methods.get(contract.id)
        if method is None and contract.has_payment_method:
            account = self.repo.get_account(contract.account_id)
            method = self.processor.save_method(account.name if account else contract.number,
                                                account.email if account else "", SEEDED_CARD, f"seed-{contract.id}")
            self.methods[contract.id] = method
        return method

    def pay(self, invoice: Invoice, purpose: str) -> ChargeOutcome:
        key = payment_key(invoice.id, purpose)
        with self._lock:
            invoice = self.repo.invoices[invoice.id]
            done = self.attempts.get(key)
            if done is not None and done.state != "pending":
                return self._outcome(done, replayed=True)
            if invoice.balance <= 0:
                return ChargeOutcome("nothing_due", Decimal("0"), key, "the invoice has no balance",
                                     balance=invoice.balance)
            method = self._method(self._invoice_contract(invoice))
            if method is None:
                return ChargeOutcome("no_method", invoice.balance, key, "No payment method on file for this contract.",
                                     balance=invoice.balance)
            due = done.amount if done is not None else invoice.balance
            self._record(invoice, key, due, "pending")
        try:
            result = self.processor.charge(method, due, invoice.currency, key, description=f"Invoice {invoice.number}",
                                           reference=invoice.number,
                                           return_url=invoice_page_url(invoice.id, payment_key=key, settings=self.settings))
        except RetriableError:
            raise
        except IntegrationError as exc:
            result = ChargeResult(FAILED, due, invoice.currency, error=str(exc))
        with self._lock:
            attempt = self._record(invoice, key, due, result.status, result)
        return self._outcome(attempt, result, replayed=result.replayed)

    def history(self, invoice: Invoice) -> list[Payment]:
        return [p for p in self.attempts.values() if p.invoice_id == invoice.id]

    def outcome(self, invoice: Invoice, key: str) -> ChargeOutcome | None:
        """The customer is back from the bank's page: a held attempt is read back from the processor."""
        attempt = self.attempts.get(key)
        if attempt is None or attempt.invoice_id != invoice.id:
            return None
        if attempt.state != "pending" or not attempt.processor_payment_id:
            return self._outcome(attempt)
        result = self.processor.transaction_status(attempt.processor_payment_id, attempt.amount, attempt.currency)
        if result.status in (SUCCEEDED, FAILED):
            with self._lock:
                attempt = self._record(self.repo.invoices[invoice.id], key, attempt.amount, result.status, result)
        return self._outcome(attempt, result)

    def _record(self, invoice: Invoice, key: str, amount: Decimal, status: str,
                result: ChargeResult | None = None) -> Payment:
        now = datetime.now(UTC)
        today = now.date()
        attempt = Payment(key=key, invoice_id=invoice.id, amount=amount, processor=self.processor.name,
                          status=_STATUS.get(status, AttemptStatus.PENDING),
                          processor_payment_id=result.processor_payment_id if result else "",
                          error=result.error if result else "", currency=invoice.currency,
                          paid_on=today if status == SUCCEEDED else None, modified_on=today, modified_at=now)
        self.attempts[key] = attempt
        paid = sum((p.amount for p in self.attempts.values() if p.invoice_id == invoice.id and p.succeeded),
                   invoice.total - invoice.total)  # keeps the amount's minor-unit exponent (0.00, not 0)
        balance = invoice.total - paid
        state = (PaymentStatus.PAID if balance <= 0 else PaymentStatus.PARTIALLY_PAID if paid > 0
                 else PaymentStatus.FAILED if status == FAILED else invoice.payment_status)
        self.repo.invoices[invoice.id] = replace(invoice, balance=balance, payment_status=state)
        return attempt

    def _outcome(self, attempt: Payment, result: ChargeResult | None = None, *, replayed: bool = False) -> ChargeOutcome:
        balance = self.repo.invoices[attempt.invoice_id or ""].balance
        if result is not None and result.status == REQUIRES_ACTION:
            return ChargeOutcome(REQUIRES_ACTION, attempt.amount, attempt.key, result.error, replayed=replayed,
                                 balance=balance, action_url=result.action_url)
        return ChargeOutcome(attempt.state, attempt.amount, attempt.key, attempt.error, replayed=replayed,
                             balance=balance)

    def integrations(self, **others: Any) -> Integrations:
        return Integrations(create_payment_link=lambda contract: create_payment_link(contract, settings=self.settings),
                            start_card_entry=self.start, finish_card_entry=self.finish,
                            invoice_card_link=self.link_for_invoice, pay_invoice=self.pay,
                            payment_history=self.history, payment_outcome=self.outcome, **others)


@dataclass(frozen=True)
class LocalStripe:
    """The Stripe sandbox serving on 127.0.0.1 in this process, and a processor adapter pointed at it."""

    server: Any  # sandbox._server.RunningServer
    processor: StripeProcessor

    @property
    def url(self) -> str:
        return str(self.server.url)

    def stop(self) -> None:
        self.server.stop()


def local_stripe() -> LocalStripe:
    """Start the Stripe sandbox on a free 127.0.0.1 port in this process (daemon thread, as `cspbridge
    demo` runs its sandboxes). Its state lives in memory, like the portal's."""
    from sandbox._server import RunningServer
    from sandbox.stripe.server import build_app

    server = RunningServer(build_app(None), 0).start()
    return LocalStripe(server, StripeProcessor("sk_test_sandbox", api_base=server.url, timeout=10.0))
