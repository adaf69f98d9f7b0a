"""Pay an invoice and save the card at once, on the processor's page: Authorize.Net Accept Hosted
(getHostedPaymentPageRequest with hostedPaymentCustomerOptions.addPaymentProfile), the portal's
"Pay with a new card" for an Authorize.Net contract. (Stripe contracts save the card first, through
payments.card_entry, and then charge it; Stripe's own 3-D Secure step brings the customer back.)

1. `start(invoice_id, purpose, ...)`: the attempt's payment row is written Pending under our payment key
   before the page exists, and the key (cut to Authorize.Net's 20 characters) travels as the transaction's
   order.invoiceNumber; the return URL is the invoice's page naming the attempt.
2. The outcome is learned by reading, never from the redirect alone: the transaction is found by that
   invoiceNumber (getUnsettledTransactionList) and read (getTransactionDetails), on the customer's return
   (payments.service.attempt_outcome) or from the authcapture.created webhook, whichever comes first.
   The card saved on the page becomes the contract's method (read back with getCustomerProfile).
3. An attempt nobody pays expires: the page token lives CSPB_AUTHORIZENET_PAGE_MINUTES (Authorize.Net: 15
   minutes), counted from the last page issued for the attempt (the row's last write). Past that, with no
   transaction found under our key, the sweep (`pay settle`) or the next read (the customer's return, the
   portal's payment history) marks it Expired: nothing was taken, nothing is owed by it. A transaction the
   customer still made is recorded whenever it turns up (webhook or read): settlement wins over expiry.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import payment_methods as contract_payments
from dataverse.stores import payments as payment_rows
from payments import invoice_records as records
from payments.authorizenet import AuthorizeNetProcessor, short_key
from payments.base import SUCCEEDED, ChargeResult, HostedForm, payment_key
from payments.links import invoice_page_url
from shared.config import get_settings
from shared.errors import ConflictError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)

WAITING = "Waiting for the customer on the processor's payment page."
EXPIRED = "Expired: the customer left the payment page without paying. Nothing was charged."


def _contract(dv: DataverseClient, invoice_id: str) -> contract_payments.ContractPayment:
    number = contract_payments.invoice_contract_number(dv, invoice_id)
    contract = contract_payments.contract_by_number(dv, number) if number else None
    if contract is None:
        raise ValidationError("the invoice has no billing contract")
    return contract


def _customer(processor: AuthorizeNetProcessor, contract: contract_payments.ContractPayment) -> str:
    """The contract's customer profile: the saved one, else the one named by the contract number
    (create_customer reuses it on E00039, so asking again finds the same profile)."""
    if contract.token and contract.processor == processor.name:
        return contract.customer_ref
    return processor.create_customer(contract.account_name, contract.email, f"{contract.number}-customer",
                                     reference=contract.number)


def start(invoice_id: str, purpose: str, *, cancel_url: str, dv: DataverseClient | None = None,
          processor: AuthorizeNetProcessor | None = None) -> HostedForm | None:
    """The processor's payment page for the invoice's balance (the attempt `purpose`), recorded Pending
    first; None when the contract's processor has no such page (Stripe: save the card, then charge)."""
    dv = client_or_default(dv)
    contract = _contract(dv, invoice_id)
    if contract.processor != AuthorizeNetProcessor.name:
        return None
    invoice = records.load_invoice(dv, invoice_id)
    key = payment_key(invoice_id, purpose)
    existing = records.payment_row(dv, key)
    if existing is not None and existing.status != records.PAYMENT_PENDING:
        raise ConflictError("this payment attempt is already decided; start a new one")
    due = existing.amount if existing is not None else invoice.balance
    if due <= 0:
        raise ValidationError("the invoice has no balance")
    processor = processor or AuthorizeNetProcessor.from_settings()
    customer = _customer(processor, contract)
    # Written again for every page issued (a double click, a reload): the row's last write is when the
    # newest page token was handed out, which is what the attempt's expiry counts from.
    records.write_payment(dv, invoice, key, amount=due, processor=processor.name,
                          status=records.PAYMENT_PENDING, error=WAITING)
    return processor.start_hosted_payment(
        customer_ref=customer, amount=due, currency=invoice.currency, invoice_number=key,
        return_url=invoice_page_url(invoice_id, payment_key=key), cancel_url=cancel_url,
        idempotency_key=f"{key}-page")


def settle_waiting(dv: DataverseClient, invoice: records.InvoiceDoc, row: records.Payment,
                   processor: AuthorizeNetProcessor) -> ChargeResult | None:
    """An attempt waiting on the hosted page: its transaction, if the customer paid, read back from the
    processor (None while there is none), and the card the page saved stored on the contract."""
    trans_id = processor.find_transaction(short_key(row.key))
    if not trans_id:
        return None
    result = processor.transaction_status(trans_id, row.amount, invoice.currency)
    if result.status == SUCCEEDED:
        save_card(dv, _customer(processor, _contract(dv, invoice.id)), processor)
    return result


def waiting_row(dv: DataverseClient, invoice_number: str) -> records.Payment | None:
    """The attempt a hosted-page transaction belongs to, by the invoiceNumber we sent (the webhook's
    payload carries it; the transId is new to us). An attempt that expired meanwhile is found too: the
    customer paid after all, and that payment is recorded."""
    for row in payment_rows.waiting(dv, AuthorizeNetProcessor.name, expired_too=True):
        if short_key(row.key) == invoice_number:
            return row
    return None


def waiting_attempts(dv: DataverseClient) -> list[records.Payment]:
    """Every attempt still waiting for the customer on a hosted payment page."""
    return payment_rows.waiting(dv, AuthorizeNetProcessor.name)


def page_lifetime() -> timedelta:
    return timedelta(minutes=get_settings().authorizenet_page_minutes)


def abandoned(row: records.Payment, now: datetime) -> bool:
    """A Pending Accept Hosted attempt with no transaction reference whose last page ran out at `now`."""
    return (row.status == records.PAYMENT_PENDING and not row.processor_payment_id
            and row.processor == AuthorizeNetProcessor.name and row.modified_at is not None
            and now - row.modified_at >= page_lifetime())


def expire(dv: DataverseClient, invoice: records.InvoiceDoc, row: records.Payment) -> None:
    """Nothing was taken: the attempt is closed as Expired; the invoice's totals and status stay as they are
    (a page left unpaid is not a declined card)."""
    records.write_payment(dv, invoice, row.key, amount=row.amount, processor=row.processor,
                          status=records.PAYMENT_EXPIRED, error=EXPIRED)
    log.info("invoice %s: payment page attempt %s expired unpaid", invoice.number, row.key)


def save_card(dv: DataverseClient, customer_ref: str, processor: AuthorizeNetProcessor) -> str:
    """The card the page saved becomes the contract's method (as the paymentProfile.created webhook does)."""
    from payments import card_entry

    return card_entry.from_payment_profile(customer_ref, dv=dv, processor=processor)
