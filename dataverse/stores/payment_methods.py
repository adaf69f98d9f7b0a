"""The billing contract's saved payment method (processor + "<customer>/<method>" token) and the
payments recorded on an invoice, as the hosted card entry and the portal's payment history read them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from billing.money import parse_decimal
from dataverse.tables import PaymentStatus

CONTRACTS = "cspb_billingcontracts"
PAYMENTS = "cspb_payments"
_CONTRACT_COLUMNS = ["cspb_billingcontractid", "cspb_contractnumber", "cspb_paymentprovider", "cspb_paymenttoken",
                     "cspb_currencycode", "cspb_language", "_cspb_account_value", "_cspb_primarybillingcontact_value"]
_STATUS = {PaymentStatus.PENDING: "pending", PaymentStatus.SUCCEEDED: "succeeded", PaymentStatus.FAILED: "failed"}


@dataclass(frozen=True)
class ContractPayment:
    """What card entry needs to know about a billing contract."""

    id: str
    number: str
    processor: str  # stripe | authorizenet
    token: str  # "<customer ref>/<method ref>", or "" when nothing is saved
    currency: str
    language: str
    account_name: str
    email: str  # the billing contact's, else the account's

    @property
    def customer_ref(self) -> str:
        return self.token.partition("/")[0] if "/" in self.token else ""


@dataclass(frozen=True)
class PaymentRecord:
    """One payment attempt on an invoice (a cspb_payment row)."""

    key: str
    status: str  # pending | succeeded | failed
    amount: Decimal
    currency: str
    processor: str
    processor_payment_id: str
    error: str
    paid_on: date | None
    created_on: str


def contract_by_number(dv: Any, number: str) -> ContractPayment | None:
    row = dv.get_by_key(CONTRACTS, {"cspb_contractnumber": number}, select=_CONTRACT_COLUMNS)
    if row is None:
        return None
    account: dict[str, Any] = {}
    if row.get("_cspb_account_value"):
        account = dv.get("accounts", row["_cspb_account_value"], select=["name", "emailaddress1"]) or {}
    email = account.get("emailaddress1") or ""
    if row.get("_cspb_primarybillingcontact_value"):
        contact = dv.get("contacts", row["_cspb_primarybillingcontact_value"], select=["emailaddress1"]) or {}
        email = contact.get("emailaddress1") or email
    return ContractPayment(
        id=row["cspb_billingcontractid"], number=row.get("cspb_contractnumber") or number,
        processor=row.get("cspb_paymentprovider") or "stripe", token=row.get("cspb_paymenttoken") or "",
        currency=row.get("cspb_currencycode") or "USD", language=row.get("cspb_language") or "en",
        account_name=account.get("name") or number, email=email)


def save_method(dv: Any, contract_id: str, processor: str, token: str) -> None:
    dv.update(CONTRACTS, contract_id, {"cspb_paymenttoken": token, "cspb_paymentprovider": processor})


def invoice_payments(dv: Any, invoice_id: str) -> list[PaymentRecord]:
    """Every payment attempt on the invoice, oldest first."""
    rows = dv.list(PAYMENTS, select=["cspb_paymentkey", "cspb_status", "cspb_amount", "cspb_currencycode",
                                     "cspb_processor", "cspb_processorpaymentid", "cspb_error", "cspb_paidon",
                                     "createdon"],
                   filter=f"_cspb_invoice_value eq {invoice_id}")
    records = [PaymentRecord(
        key=r.get("cspb_paymentkey") or "", status=_STATUS.get(PaymentStatus(r.get("cspb_status") or 1), "pending"),
        amount=parse_decimal(r.get("cspb_amount") or "0"), currency=r.get("cspb_currencycode") or "",
        processor=r.get("cspb_processor") or "", processor_payment_id=r.get("cspb_processorpaymentid") or "",
        error=r.get("cspb_error") or "",
        paid_on=date.fromisoformat(str(r["cspb_paidon"])[:10]) if r.get("cspb_paidon") else None,
        created_on=str(r.get("createdon") or "")) for r in rows]
    return sorted(records, key=lambda p: (p.created_on, p.key))


def invoice_contract_number(dv: Any, invoice_id: str) -> str:
    """The number of the billing contract an invoice is billed on ("" when it has none)."""
    row = dv.get("invoices", invoice_id, select=["_cspb_billingcontract_value"])
    contract_id = (row or {}).get("_cspb_billingcontract_value")
    if not contract_id:
        return ""
    contract = dv.get(CONTRACTS, contract_id, select=["cspb_contractnumber"]) or {}
    return str(contract.get("cspb_contractnumber") or "")
