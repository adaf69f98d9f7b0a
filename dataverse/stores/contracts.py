"""cspb_billingcontract as the post-invoice, payment and dunning jobs read it: the contract's settings, and
the payment method a payment link stores on it. (The billing run reads contracts through map_billing.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import as_text, bind
from dataverse.tables import EntitySet
from shared.errors import NotFoundError, ValidationError

NUMBER = "cspb_contractnumber"  # the alternate key
COLUMNS = ["cspb_billingcontractid", NUMBER, "_cspb_account_value", "cspb_language", "cspb_paymentprovider",
           "cspb_paymenttoken", "_cspb_primarybillingcontact_value", "cspb_autosend", "cspb_autocharge",
           "cspb_autosync", "cspb_currencycode"]


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
    currency: str = ""


def _settings(row: dict[str, Any], contract_id: str = "") -> ContractSettings:
    account = row.get("_cspb_account_value")
    contact = row.get("_cspb_primarybillingcontact_value")
    return ContractSettings(
        id=as_text(row.get("cspb_billingcontractid")) or contract_id, number=as_text(row.get(NUMBER)),
        account_id=str(account) if account else None, language=as_text(row.get("cspb_language")),
        payment_provider=as_text(row.get("cspb_paymentprovider")), payment_token=as_text(row.get("cspb_paymenttoken")),
        primary_billing_contact_id=str(contact) if contact else None, auto_send=bool(row.get("cspb_autosend")),
        auto_charge=bool(row.get("cspb_autocharge")), auto_sync=bool(row.get("cspb_autosync")),
        currency=as_text(row.get("cspb_currencycode")))


def contract_settings(dv: DataverseClient, contract_id: str | None, *, invoice_number: str = "") -> ContractSettings:
    if not contract_id:
        raise ValidationError(f"invoice {invoice_number} has no billing contract")
    return _settings(dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=COLUMNS), contract_id)


def by_number(dv: DataverseClient, number: str) -> ContractSettings | None:
    row = dv.get_by_key(EntitySet.BILLING_CONTRACTS, {NUMBER: number}, select=COLUMNS)
    return None if row is None else _settings(row)


def set_payment_method(dv: DataverseClient, contract_id: str, *, token: str, provider: str) -> None:
    dv.update(EntitySet.BILLING_CONTRACTS, contract_id, {"cspb_paymenttoken": token, "cspb_paymentprovider": provider})


def all_settings(dv: DataverseClient) -> list[ContractSettings]:
    """Every contract's settings, in the order Dataverse lists them."""
    return [_settings(dict(r)) for r in dv.list(EntitySet.BILLING_CONTRACTS, select=COLUMNS)]


def set_primary_billing_contact(dv: DataverseClient, contract_id: str, contact_id: str) -> None:
    dv.update(EntitySet.BILLING_CONTRACTS, contract_id,
              {"cspb_primarybillingcontact@odata.bind": bind(EntitySet.CONTACTS, contact_id)})


def set_post_invoice(dv: DataverseClient, contract_id: str, *, charge: bool, send: bool, sync: bool) -> None:
    """Whether the post-invoice job charges the stored payment method, mails the invoice and syncs it to
    the accounting system."""
    dv.update(EntitySet.BILLING_CONTRACTS, contract_id,
              {"cspb_autocharge": charge, "cspb_autosend": send, "cspb_autosync": sync})


# ---- the portal's view: a customer's contracts, what they bill in and whether a card is on file ---------------

PORTAL_COLUMNS = ["cspb_billingcontractid", "_cspb_account_value", NUMBER, "cspb_currencycode",
                  "_cspb_pricelevel_value", "cspb_language", "cspb_paymenttoken"]


@dataclass(frozen=True)
class Contract:
    id: str
    account_id: str
    number: str
    currency: str
    pricelevel_id: str = ""
    language: str = "en"
    has_payment_method: bool = False


def portal_contract_from_row(row: Mapping[str, Any]) -> Contract:
    return Contract(id=str(row["cspb_billingcontractid"]), account_id=as_text(row.get("_cspb_account_value")),
                    number=as_text(row.get(NUMBER)), currency=as_text(row.get("cspb_currencycode")) or "USD",
                    pricelevel_id=as_text(row.get("_cspb_pricelevel_value")),
                    language=as_text(row.get("cspb_language")) or "en",
                    has_payment_method=bool(row.get("cspb_paymenttoken")))


def for_account(dv: DataverseClient, account_id: str) -> list[Contract]:
    rows = dv.list(EntitySet.BILLING_CONTRACTS, select=PORTAL_COLUMNS, filter=f"_cspb_account_value eq {account_id}")
    return sorted((portal_contract_from_row(r) for r in rows), key=lambda c: c.number)


def get_contract(dv: DataverseClient, contract_id: str) -> Contract | None:
    try:
        return portal_contract_from_row(dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=PORTAL_COLUMNS))
    except NotFoundError:
        return None


def owner(dv: DataverseClient, contract_id: str) -> str | None:
    """The account the contract bills ("" when it has none), or None when the contract does not exist."""
    try:
        row = dv.get(EntitySet.BILLING_CONTRACTS, contract_id, select=["cspb_billingcontractid", "_cspb_account_value"])
    except NotFoundError:
        return None
    return as_text(row.get("_cspb_account_value"))
