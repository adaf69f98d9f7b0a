"""What the post-invoice jobs work on, through the typed stores (dataverse/stores/): the invoice with its
lines, the billing contract's settings, the account and its billing contact, and the payment rows that
make up an invoice's amount paid.

The invoice's amount paid / balance / payment status are always recomputed from the succeeded
payment rows, never incremented, so replays and out-of-order webhooks cannot drift them.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from billing.models import PaymentStatus
from billing.money import round_money
from dataverse.client import DataverseClient
from dataverse.stores import accounts, contacts, contracts, invoices, payments
from dataverse.stores.accounts import ADDRESS_COLUMNS, CustomerAccount, Party
from dataverse.stores.contacts import BillingContact
from dataverse.stores.contracts import ContractSettings
from dataverse.stores.invoices import (
    LINE_TYPE_NAMES,
    ZERO,
    DocLine,
    InvoiceDoc,
    dec,
    load_invoice,
    resolve_invoice_id,
)
from dataverse.stores.payments import Payment
from dataverse.tables import AccountingStatus
from dataverse.tables import PaymentStatus as PaymentRowStatus

__all__ = [
    "ACCOUNTING_FAILED", "ACCOUNTING_NOT_SYNCED", "ACCOUNTING_SYNCED", "ADDRESS_COLUMNS", "LINE_TYPE_NAMES",
    "PAYMENT_EXPIRED", "PAYMENT_FAILED", "PAYMENT_PENDING", "PAYMENT_SUCCEEDED", "ZERO", "BillingContact", "ContractSettings",
    "CustomerAccount", "DocLine", "InvoiceDoc", "Party", "Payment", "billing_contact", "customer_party", "dec",
    "held_payments", "load_account", "load_contract", "load_invoice", "payment_row", "refresh_payment_totals",
    "resolve_invoice_id", "succeeded_payments", "write_payment",
]

# Short names the payment and accounting jobs use for the payment row's status and the invoice's accounting status.
PAYMENT_PENDING, PAYMENT_SUCCEEDED, PAYMENT_FAILED, PAYMENT_EXPIRED = (
    PaymentRowStatus.PENDING, PaymentRowStatus.SUCCEEDED, PaymentRowStatus.FAILED, PaymentRowStatus.EXPIRED)
ACCOUNTING_NOT_SYNCED, ACCOUNTING_SYNCED, ACCOUNTING_FAILED = (
    AccountingStatus.NOT_SYNCED, AccountingStatus.SYNCED, AccountingStatus.FAILED)


def load_contract(dv: DataverseClient, invoice: InvoiceDoc) -> ContractSettings:
    return contracts.contract_settings(dv, invoice.contract_id, invoice_number=invoice.number)


def load_account(dv: DataverseClient, account_id: str | None) -> CustomerAccount:
    return accounts.load_account(dv, account_id)


def customer_party(account: CustomerAccount) -> Party:
    """The customer's legal name, billing address (the account's address 1) and tax id."""
    return account.party


def billing_contact(dv: DataverseClient, contract: ContractSettings) -> BillingContact | None:
    return contacts.billing_contact(dv, contract.primary_billing_contact_id)


def payment_row(dv: DataverseClient, key: str) -> Payment | None:
    return payments.by_key(dv, key)


def held_payments(dv: DataverseClient) -> list[Payment]:
    """Pending payments the processor has taken but not decided (e.g. Authorize.Net's review)."""
    return payments.held(dv)


def write_payment(dv: DataverseClient, invoice: InvoiceDoc, key: str, *, amount: Decimal, processor: str, status: int,
                  processor_payment_id: str = "", error: str = "", paid_on: date | None = None) -> None:
    payments.write(dv, key, invoice_id=invoice.id, invoice_number=invoice.number, currency=invoice.currency,
                   amount=amount, processor=processor, status=status, processor_payment_id=processor_payment_id,
                   error=error, paid_on=paid_on)


def succeeded_payments(dv: DataverseClient, invoice_id: str) -> list[Payment]:
    return payments.succeeded_for_invoice(dv, invoice_id)


def refresh_payment_totals(dv: DataverseClient, invoice: InvoiceDoc, *, last_attempt_failed: bool = False) -> InvoiceDoc:
    paid = round_money(sum((p.amount for p in succeeded_payments(dv, invoice.id)), ZERO), invoice.currency)
    balance = invoice.total - paid
    if balance <= 0:
        status = PaymentStatus.PAID
    elif paid > 0:
        status = PaymentStatus.PARTIALLY_PAID
    elif last_attempt_failed:
        status = PaymentStatus.FAILED
    else:
        status = PaymentStatus.UNPAID
    invoices.set_payment_totals(dv, invoice.id, paid=paid, balance=balance, status=status)
    return load_invoice(dv, invoice.id)
