"""What hosted card entry needs to know about a billing contract: its processor, saved method, currency,
language and whom the processor's customer record names."""

from __future__ import annotations

from dataclasses import dataclass, field

from dataverse.client import DataverseClient
from dataverse.stores import accounts, contacts, contracts, invoices


@dataclass(frozen=True)
class ContractPayment:
    id: str
    number: str
    processor: str  # stripe | authorizenet
    token: str = field(repr=False)  # "<customer ref>/<method ref>", or "" when nothing is saved
    currency: str
    language: str
    account_name: str
    email: str  # the billing contact's, else the account's

    @property
    def customer_ref(self) -> str:
        return self.token.partition("/")[0] if "/" in self.token else ""


def contract_by_number(dv: DataverseClient, number: str) -> ContractPayment | None:
    found = contracts.by_number(dv, number)
    if found is None:
        return None
    account = accounts.load_account(dv, found.account_id) if found.account_id else None
    contact = contacts.billing_contact(dv, found.primary_billing_contact_id)
    return ContractPayment(
        id=found.id, number=found.number or number, processor=found.payment_provider or "stripe",
        token=found.payment_token, currency=found.currency or "USD", language=found.language or "en",
        account_name=(account.name if account else "") or number,
        email=(contact.email if contact else "") or (account.email if account else ""))


def save_method(dv: DataverseClient, contract_id: str, processor: str, token: str) -> None:
    contracts.set_payment_method(dv, contract_id, token=token, provider=processor)


def invoice_contract_number(dv: DataverseClient, invoice_id: str) -> str:
    """The number of the billing contract an invoice is billed on ("" when it has none)."""
    contract_id = invoices.load_invoice(dv, invoice_id).contract_id
    return contracts.contract_settings(dv, contract_id).number if contract_id else ""
