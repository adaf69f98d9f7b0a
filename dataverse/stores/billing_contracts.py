"""A billing contract's settings as the post-invoice, payment and dunning jobs read them, and the payment
method a payment link stores on it. (The billing run reads contracts through map_billing.contract_from_row.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet
from shared.errors import ValidationError

NUMBER = "cspb_contractnumber"  # the alternate key
COLUMNS = ["cspb_billingcontractid", NUMBER, "_cspb_account_value", "cspb_language", "cspb_paymentprovider",
           "cspb_paymenttoken", "_cspb_primarybillingcontact_value", "cspb_autosend", "cspb_autocharge",
           "cspb_autosync"]


@dataclass(frozen=True)
class ContractSettings:
    id: str
    number: str
    account_id: str | None
    language: str = ""  # empty: the invoice's own language applies
    payment_provider: str = ""
    # What the processor gave for the stored method (payments.base.StoredMethod): never log or print it.
    payment_token: str = field(default="", repr=False)
    primary_billing_contact_id: str | None = None
    auto_send: bool = False
    auto_charge: bool = False
    auto_sync: bool = False


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _settings(row: dict[str, Any], contract_id: str = "") -> ContractSettings:
    account = row.get("_cspb_account_value")
    contact = row.get("_cspb_primarybillingcontact_value")
    return ContractSettings(
        id=_text(row.get("cspb_billingcontractid")) or contract_id, number=_text(row.get(NUMBER)),
        account_id=str(account) if account else None, language=_text(row.get("cspb_language")),
        payment_provider=_text(row.get("cspb_paymentprovider")), payment_token=_text(row.get("cspb_paymenttoken")),
        primary_billing_contact_id=str(contact) if contact else None, auto_send=bool(row.get("cspb_autosend")),
        auto_charge=bool(row.get("cspb_autocharge")), auto_sync=bool(row.get("cspb_autosync")))


def contract_settings(dv: DataverseClient, contract_id: str | None, *, invoice_number: str = "") -> ContractSettings:
    if not contract_id:
        raise ValidationError(f"invoice {invoice_number} has no billing contract")
    return _settings(dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=COLUMNS), contract_id)


def by_number(dv: DataverseClient, number: str) -> ContractSettings | None:
    row = dv.get_by_key(EntitySet.BILLING_CONTRACTS, {NUMBER: number}, select=COLUMNS)
    return None if row is None else _settings(row)


def set_payment_method(dv: DataverseClient, contract_id: str, *, token: str, provider: str) -> None:
    dv.update(EntitySet.BILLING_CONTRACTS, contract_id, {"cspb_paymenttoken": token, "cspb_paymentprovider": provider})
