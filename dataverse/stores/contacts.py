"""Contacts: the billing contact an invoice or reminder is mailed to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


@dataclass(frozen=True)
class BillingContact:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(x for x in (self.first_name, self.last_name) if x)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def billing_contact(dv: DataverseClient, contact_id: str | None) -> BillingContact | None:
    if not contact_id:
        return None
    row = dv.get(EntitySet.CONTACTS, contact_id, select=["firstname", "lastname", "emailaddress1"])
    return BillingContact(contact_id, _text(row.get("firstname")), _text(row.get("lastname")),
                          _text(row.get("emailaddress1")))
