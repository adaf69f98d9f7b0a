"""cspb_agreement rows: a customer's acceptance of the Microsoft Customer Agreement and whether it was
attested at Partner Center (one row per provider account and accepting person, keyed by cspb_agreementkey)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.stores._rows import bind
from dataverse.tables import AgreementStatus, EntitySet
from shared.dates import iso, parse_datetime

COLUMNS = ["cspb_agreementid", "cspb_agreementkey", "_cspb_provideraccount_value", "cspb_email",
           "cspb_firstname", "cspb_lastname", "cspb_phone", "cspb_dateagreed", "cspb_templateid",
           "cspb_status"]


@dataclass(frozen=True)
class Agreement:
    id: str
    key: str | None
    provider_account_id: str | None
    email: str | None
    first_name: str | None
    last_name: str | None
    phone: str | None
    date_agreed: datetime | None
    template_id: str | None
    status: int | None


@dataclass(frozen=True)
class Acceptance:
    """Who accepted, and when, for a provider account (the portal's way in)."""

    key: str
    provider_account_id: str
    email: str
    first_name: str
    last_name: str
    phone: str | None
    date_agreed: datetime
    agreement_type: str
    # Set: the row's status is put to it (a re-recorded acceptance starts over as Pending); None: left as is.
    status: AgreementStatus | None = None


def get(dv: DataverseClient, agreement_id: str) -> Agreement:
    row = dv.get(EntitySet.AGREEMENTS, agreement_id, select=COLUMNS)
    return Agreement(id=agreement_id, key=row.get("cspb_agreementkey"),
                     provider_account_id=row.get("_cspb_provideraccount_value"), email=row.get("cspb_email"),
                     first_name=row.get("cspb_firstname"), last_name=row.get("cspb_lastname"),
                     phone=row.get("cspb_phone"), date_agreed=parse_datetime(row.get("cspb_dateagreed")),
                     template_id=row.get("cspb_templateid"), status=row.get("cspb_status"))


def record_acceptance(dv: DataverseClient, acceptance: Acceptance) -> str:
    """Upsert the acceptance on its key; the agreement row's id."""
    row: dict[str, Any] = {
        "cspb_name": f"MCA {acceptance.email}"[:100],
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, acceptance.provider_account_id),
        "cspb_email": acceptance.email, "cspb_firstname": acceptance.first_name,
        "cspb_lastname": acceptance.last_name, "cspb_phone": acceptance.phone,
        "cspb_dateagreed": iso(acceptance.date_agreed), "cspb_agreementtype": acceptance.agreement_type,
    }
    if acceptance.status is not None:
        row["cspb_status"] = int(acceptance.status)
    return dv.upsert(EntitySet.AGREEMENTS, {"cspb_agreementkey": acceptance.key}, row).id


def mark_attested(dv: DataverseClient, agreement_id: str, date_agreed: datetime, agreement_type: str) -> None:
    dv.update(EntitySet.AGREEMENTS, agreement_id, {"cspb_status": int(AgreementStatus.ATTESTED), "cspb_error": None,
                                                   "cspb_dateagreed": iso(date_agreed),
                                                   "cspb_agreementtype": agreement_type})


def mark_failed(dv: DataverseClient, agreement_id: str, message: str) -> None:
    dv.update(EntitySet.AGREEMENTS, agreement_id, {"cspb_status": int(AgreementStatus.FAILED), "cspb_error": message})
