"""Contacts: the billing contact an invoice or reminder is mailed to, and the portal's users (a contact with
a portal role, found by the Entra identity it signs in with, invited by a one-time link)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.odata import literal
from dataverse.stores._rows import as_text, bind
from dataverse.tables import EntitySet, PortalRole
from shared.dates import parse_datetime
from shared.errors import NotFoundError


@dataclass(frozen=True)
class BillingContact:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(x for x in (self.first_name, self.last_name) if x)


def billing_contact(dv: DataverseClient, contact_id: str | None) -> BillingContact | None:
    if not contact_id:
        return None
    row = dv.get(EntitySet.CONTACTS, contact_id, select=["firstname", "lastname", "emailaddress1"])
    return BillingContact(contact_id, as_text(row.get("firstname")), as_text(row.get("lastname")),
                          as_text(row.get("emailaddress1")))


def create_billing_contact(dv: DataverseClient, account_id: str, *, first_name: str, last_name: str,
                           email: str) -> str:
    """A contact of the account to mail its invoices to; its id."""
    return dv.create(EntitySet.CONTACTS, {"firstname": first_name, "lastname": last_name, "emailaddress1": email,
                                          "parentcustomerid_account@odata.bind": bind(EntitySet.ACCOUNTS, account_id)})


# ---- the portal's people: contacts with a portal role, signed in by Entra tenant + object id ----------------

CONTACT_COLUMNS = ["contactid", "firstname", "lastname", "emailaddress1", "_parentcustomerid_value",
                   "cspb_portalrole", "cspb_portalsubject", "cspb_portaltenantid"]


@dataclass(frozen=True)
class Contact:
    id: str
    account_id: str
    first_name: str
    last_name: str
    email: str
    role: PortalRole
    subject: str = ""  # Entra object id (oid) the contact signs in with
    tenant_id: str = ""  # ... and the tenant (tid) it lives in: an oid is unique only within its tenant

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


def contact_from_row(row: Mapping[str, Any]) -> Contact | None:
    """None for a contact with no portal role or no account: it cannot sign in."""
    if row.get("cspb_portalrole") in (None, "") or not row.get("_parentcustomerid_value"):
        return None
    return Contact(id=str(row["contactid"]), account_id=str(row["_parentcustomerid_value"]),
                   first_name=as_text(row.get("firstname")), last_name=as_text(row.get("lastname")),
                   email=as_text(row.get("emailaddress1")), role=PortalRole(int(row["cspb_portalrole"])),
                   subject=as_text(row.get("cspb_portalsubject")), tenant_id=as_text(row.get("cspb_portaltenantid")))


def _only(rows: Iterable[Mapping[str, Any]]) -> Contact | None:
    found = [c for c in (contact_from_row(r) for r in rows) if c]
    return found[0] if len(found) == 1 else None


def get_contact(dv: DataverseClient, contact_id: str) -> Contact | None:
    """None when the row does not exist or cannot sign in."""
    try:
        return contact_from_row(dv.get(EntitySet.CONTACTS, contact_id, select=CONTACT_COLUMNS))
    except NotFoundError:
        return None


def find_by_subject(dv: DataverseClient, subject: str) -> Contact | None:
    return _only(dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, filter=f"cspb_portalsubject eq {literal(subject)}",
                         top=2))


def find_by_identity(dv: DataverseClient, tenant_id: str, object_id: str) -> Contact | None:
    return _only(dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, top=2,
                         filter=f"cspb_portalsubject eq {literal(object_id)} and "
                                f"cspb_portaltenantid eq {literal(tenant_id)}"))


def find_by_email(dv: DataverseClient, email: str) -> Contact | None:
    return _only(dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, top=2, filter=f"emailaddress1 eq {literal(email)}"))


def portal_contacts(dv: DataverseClient) -> list[Contact]:
    """Every contact with a portal role (whether its account has the portal on is the caller's check)."""
    rows = dv.list(EntitySet.CONTACTS, select=CONTACT_COLUMNS, filter="cspb_portalrole ne null")
    return [c for c in (contact_from_row(r) for r in rows) if c]


def set_invitation(dv: DataverseClient, contact_id: str, token_hash: str, expires: datetime) -> None:
    dv.update(EntitySet.CONTACTS, contact_id, {
        "cspb_portalinvitehash": token_hash,
        "cspb_portalinviteexpires": expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})


def bind_invitation(dv: DataverseClient, token_hash: str, tenant_id: str, object_id: str,
                    now: datetime) -> Contact | None:
    """The contact invited with this token, bound to (tenant_id, object_id); None when the token is
    unknown, used or expired. The invitation is used up either way."""
    rows = list(dv.list(EntitySet.CONTACTS, select=[*CONTACT_COLUMNS, "cspb_portalinviteexpires"], top=2,
                        filter=f"cspb_portalinvitehash eq {literal(token_hash)}"))
    if len(rows) != 1:
        return None
    row = dict(rows[0])
    contact_id = str(row["contactid"])
    expires = parse_datetime(row.get("cspb_portalinviteexpires"))
    # Used up before anything else: a second use of the same link finds nothing.
    dv.update(EntitySet.CONTACTS, contact_id, {"cspb_portalinvitehash": None, "cspb_portalinviteexpires": None})
    if expires is None or expires <= now:
        return None
    dv.update(EntitySet.CONTACTS, contact_id, {"cspb_portalsubject": object_id, "cspb_portaltenantid": tenant_id})
    return get_contact(dv, contact_id)
