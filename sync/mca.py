"""Microsoft Customer Agreement: attest acceptance at Partner Center, and record it in Dynamics.

Two ways in: a cspb_agreement row someone filled in (agreement_id), or the portal, which passes
the provider account and the person who accepted (provider_account_id + contact). Either way
the attestation is POSTed to Partner Center (`POST /v1/customers/{id}/agreements` with the
primary contact, the MCA template id and dateAgreed:
learn.microsoft.com/partner-center/developer/confirm-customer-consent-customer-agreement),
the agreement row becomes Attested (or Failed with the reason) and the provider account's
cspb_mcaattested is set, which unblocks new-commerce orders (billing.newcommerce.check_new_order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import AgreementStatus, EntitySet
from distributors.base import DistributorAdapter
from shared.errors import FatalError, RetriableError, ValidationError
from sync.records import bind, iso, parse_dt

AGREEMENT_TYPE = "MicrosoftCustomerAgreement"
NOT_ATTESTED_MESSAGE = ("the customer has not accepted the Microsoft Customer Agreement; new-commerce orders are "
                        "blocked until the acceptance is attested")

_AGREEMENT_COLUMNS = ["cspb_agreementid", "cspb_agreementkey", "_cspb_provideraccount_value", "cspb_email",
                      "cspb_firstname", "cspb_lastname", "cspb_phone", "cspb_dateagreed", "cspb_templateid",
                      "cspb_status"]


@dataclass(frozen=True)
class AttestResult:
    agreement_id: str
    status: str   # Attested | Failed
    message: str = ""


def _contact_from(row: Mapping[str, Any]) -> dict[str, str]:
    contact = {"firstName": row.get("cspb_firstname") or "", "lastName": row.get("cspb_lastname") or "",
               "email": row.get("cspb_email") or "", "phoneNumber": row.get("cspb_phone") or ""}
    missing = [k for k in ("firstName", "lastName", "email") if not contact[k]]
    if missing:
        raise ValidationError(f"MCA attestation needs the accepting person's {', '.join(missing)}")
    return contact


def attest(dv: DataverseClient, pc: DistributorAdapter, *, agreement_id: str | None = None, provider_account_id: str | None = None,
           contact: Mapping[str, str] | None = None, date_agreed: datetime | None = None) -> AttestResult:
    """Attest from a cspb_agreement (agreement_id) or from the portal (provider_account_id + contact
    with firstName/lastName/email[/phoneNumber]). `pc` is the Partner Center adapter (the one whose
    `attests_agreements` is set: distributors.partnercenter_adapter.PartnerCenterAdapter)."""
    if agreement_id is None:
        if not provider_account_id or not contact:
            raise ValidationError("attest needs an agreement_id, or a provider_account_id and the contact")
        agreement_id = _record_portal_acceptance(dv, provider_account_id, contact, date_agreed)
    row = dv.get(EntitySet.AGREEMENTS, agreement_id, select=_AGREEMENT_COLUMNS)
    if row.get("cspb_status") == AgreementStatus.ATTESTED:
        return AttestResult(agreement_id, "Attested", "already attested")
    account_id = row.get("_cspb_provideraccount_value")
    if not account_id:
        return _fail(dv, agreement_id, "the agreement has no provider account")
    account = dv.get(EntitySet.PROVIDER_ACCOUNTS, account_id, select=["cspb_externalid", "cspb_provider"])
    if account.get("cspb_provider") != 1:
        return _fail(dv, agreement_id, "MCA attestation applies to Partner Center customers only")
    try:
        person = _contact_from(row)
    except ValidationError as exc:
        return _fail(dv, agreement_id, exc.message)
    try:
        agreed = parse_dt(row.get("cspb_dateagreed")) or date_agreed or datetime.now(UTC)
        # The agreement row's key is stable, so a retried attestation sends the same MS-RequestId.
        pc.attest_customer_agreement(account["cspb_externalid"], person, agreed,
                                     idempotency_key=row.get("cspb_agreementkey") or agreement_id)
    except RetriableError:
        raise
    except FatalError as exc:
        return _fail(dv, agreement_id, f"Partner Center refused the attestation: {exc.message}")
    dv.update(EntitySet.AGREEMENTS, agreement_id, {"cspb_status": int(AgreementStatus.ATTESTED), "cspb_error": None,
                                                   "cspb_dateagreed": iso(agreed),
                                                   "cspb_agreementtype": AGREEMENT_TYPE})
    dv.update(EntitySet.PROVIDER_ACCOUNTS, account_id, {"cspb_mcaattested": True})
    return AttestResult(agreement_id, "Attested")


def _record_portal_acceptance(dv: DataverseClient, provider_account_id: str, contact: Mapping[str, str],
                              date_agreed: datetime | None) -> str:
    email = (contact.get("email") or "").strip().lower()
    if not email:
        raise ValidationError("MCA attestation needs the accepting person's email")
    agreed = date_agreed or datetime.now(UTC)
    key = f"mca|{provider_account_id}|{email}"
    result = dv.upsert(EntitySet.AGREEMENTS, {"cspb_agreementkey": key}, {
        "cspb_name": f"MCA {email}"[:100],
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, provider_account_id),
        "cspb_email": email, "cspb_firstname": contact.get("firstName") or "",
        "cspb_lastname": contact.get("lastName") or "", "cspb_phone": contact.get("phoneNumber") or None,
        "cspb_dateagreed": iso(agreed), "cspb_agreementtype": AGREEMENT_TYPE,
    })
    return result.id


def _fail(dv: DataverseClient, agreement_id: str, message: str) -> AttestResult:
    dv.update(EntitySet.AGREEMENTS, agreement_id, {"cspb_status": int(AgreementStatus.FAILED), "cspb_error": message})
    return AttestResult(agreement_id, "Failed", message)


def is_attested(dv: DataverseClient, provider_account_id: str) -> bool:
    row = dv.get(EntitySet.PROVIDER_ACCOUNTS, provider_account_id, select=["cspb_mcaattested"])
    return bool(row.get("cspb_mcaattested"))
