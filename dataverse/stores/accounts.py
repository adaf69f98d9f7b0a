"""Customer accounts: as the invoice, payment and accounting jobs name them (legal name, email, billing
address from the account's address 1, tax id), as the portal sees them (portal on or off), and
created for a customer with an id derived from who the customer is (the demo, seeds)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import as_text
from dataverse.tables import EntitySet
from shared.errors import NotFoundError, ValidationError

ADDRESS_COLUMNS = ["address1_line1", "address1_line2", "address1_postalcode", "address1_city",
                   "address1_stateorprovince", "address1_country"]


@dataclass(frozen=True)
class Party:
    """Seller or customer as the invoice names them."""

    name: str
    address: tuple[str, ...] = ()
    tax_id: str = ""


@dataclass(frozen=True)
class CustomerAccount:
    id: str
    name: str
    email: str = ""
    tax_id: str = ""
    address: tuple[str, ...] = ()

    @property
    def party(self) -> Party:
        return Party(self.name, self.address, self.tax_id)


def _account(row: dict[str, Any], account_id: str) -> CustomerAccount:
    city = " ".join(as_text(x) for x in (row.get("address1_postalcode"), row.get("address1_city")) if x)
    lines = [row.get("address1_line1"), row.get("address1_line2"), city, row.get("address1_stateorprovince"),
             row.get("address1_country")]
    return CustomerAccount(id=as_text(row.get("accountid")) or account_id, name=as_text(row.get("name")),
                           email=as_text(row.get("emailaddress1")), tax_id=as_text(row.get("cspb_taxid")),
                           address=tuple(as_text(x) for x in lines if x))


def load_account(dv: DataverseClient, account_id: str | None) -> CustomerAccount:
    if not account_id:
        raise ValidationError("the invoice has no customer account")
    return _account(dv.get(EntitySet.ACCOUNTS, account_id,
                           select=["name", "emailaddress1", "accountid", "cspb_taxid", *ADDRESS_COLUMNS]), account_id)


def all_accounts(dv: DataverseClient) -> Iterator[CustomerAccount]:
    """Every account, by id, name and email (the accounting master-data export)."""
    for row in dv.list(EntitySet.ACCOUNTS, select=["accountid", "name", "emailaddress1"]):
        yield _account(row, as_text(row.get("accountid")))


# ---- the portal's view: whether the customer has the portal on -------------------------------------------

ACCOUNT_COLUMNS = ["accountid", "name", "emailaddress1", "cspb_portalenabled"]


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    portal_enabled: bool = True
    email: str = ""


def account_from_row(row: Mapping[str, Any]) -> Account:
    return Account(str(row["accountid"]), as_text(row.get("name")), bool(row.get("cspb_portalenabled")),
                   as_text(row.get("emailaddress1")))


def get_account(dv: DataverseClient, account_id: str) -> Account | None:
    try:
        return account_from_row(dv.get(EntitySet.ACCOUNTS, account_id, select=ACCOUNT_COLUMNS))
    except NotFoundError:
        return None


def portal_enabled_ids(dv: DataverseClient) -> set[str]:
    return {str(r["accountid"]) for r in dv.list(EntitySet.ACCOUNTS, select=["accountid"],
                                                  filter="cspb_portalenabled eq true")}


# ---- creating an account for a known customer ---------------------------------------------------------

# Namespace of the ids below (a fixed random UUID): uuid5(namespace, the customer's key).
_ACCOUNT_IDS = uuid.UUID("6d1f3c2a-8b47-4e0e-9a51-2f7c4d9b8e13")


def stable_account_id(key: str) -> str:
    """The account id for the customer `key` names (a tenant id, a domain): the same in every org
    built from the same data, so what derives from the id (the usage contract number hashes it) reads
    the same run after run. Dataverse takes a client-chosen primary key on create."""
    return str(uuid.uuid5(_ACCOUNT_IDS, key.strip().lower()))


def create_account(dv: DataverseClient, name: str, *, domain: str | None = None, key: str | None = None) -> str:
    """Creates the CRM account of a customer (name, and the domain provider accounts map by) under
    `stable_account_id(key)`; `key` defaults to the domain, else the name. Creating it again finds
    the same row (the client's create is an If-None-Match upsert on the id). Returns the id."""
    body: dict[str, Any] = {"name": name}
    if domain:
        body["cspb_domain"] = domain
    return dv.create(EntitySet.ACCOUNTS, body, id=stable_account_id(key or domain or name))
