"""Microsoft Customer Agreement: attest acceptance at Partner Center, and record it in Dynamics.

Two ways in: an agreement row someone filled in (agreement_id), or the portal, which passes
the provider account and the person who accepted (provider_account_id + contact). Either way
the attestation is POSTed to Partner Center (`POST /v1/customers/{id}/agreements` with the
primary contact, the MCA template id and dateAgreed:
learn.microsoft.com/partner-center/developer/confirm-customer-consent-customer-agreement),
the agreement row becomes Attested (or Failed with the reason) and the provider account is
marked MCA-attested, which unblocks new-commerce orders (billing.newcommerce.check_new_order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from dataverse.client import DataverseClient
from dataverse.stores import agreements
from dataverse.stores import provider_accounts as accounts
from dataverse.stores.agreements import Acceptance, Agreement
from dataverse.tables import AgreementStatus, Provider
from distributors.base import DistributorAdapter
from shared.errors import FatalError, RetriableError, ValidationError

AGREEMENT_TYPE = "MicrosoftCustomerAgreement"
NOT_ATTESTED_MESSAGE = ("the customer has not accepted the Microsoft Customer Agreement; new-commerce orders are "
                        "blocked until the acceptance is attested")


@dataclass(frozen=True)
class AttestResult:
    agreement_id: str
    status: str   # Attested | Failed
    message: str = ""


def _contact_from(row: Agreement) -> dict[str, str]:
    contact = {"firstName": row.first_name or "", "lastName": row.last_name or "",
               "email": row.email or "", "phoneNumber": row.phone or ""}
    missing = [k for k in ("firstName", "lastName", "email") if not contact[k]]
    if missing:
        raise ValidationError(f"MCA attestation needs the accepting person's {', '.join(missing)}")
    return contact


def attest(dv: DataverseClient, pc: DistributorAdapter, *, agreement_id: str | None = None, provider_account_id: str | None = None,
           contact: Mapping[str, str] | None = None, date_agreed: datetime | None = None) -> AttestResult:
    """Attest from an agreement row (agreement_id) or from the portal (provider_account_id + contact
    with firstName/lastName/email[/phoneNumber]). `pc` is the Partner Center adapter (the one whose
    `attests_agreements` is set: distributors.partnercenter_adapter.PartnerCenterAdapter)."""
    if agreement_id is None:
        if not provider_account_id or not contact:
            raise ValidationError("attest needs an agreement_id, or a provider_account_id and the contact")
        agreement_id = _record_portal_acceptance(dv, provider_account_id, contact, date_agreed)
    row = agreements.get(dv, agreement_id)
    if row.status == AgreementStatus.ATTESTED:
        return AttestResult(agreement_id, "Attested", "already attested")
    account_id = row.provider_account_id
    if not account_id:
        return _fail(dv, agreement_id, "the agreement has no provider account")
    account = accounts.tenant(dv, account_id)
    if account.provider != Provider.PARTNER_CENTER:
        return _fail(dv, agreement_id, "MCA attestation applies to Partner Center customers only")
    try:
        person = _contact_from(row)
    except ValidationError as exc:
        return _fail(dv, agreement_id, exc.message)
    try:
        agreed = row.date_agreed or date_agreed or datetime.now(UTC)
        # The agreement row's key is stable, so a retried attestation sends the same MS-RequestId.
        pc.attest_customer_agreement(account.external_id or "", person, agreed,
                                     idempotency_key=row.key or agreement_id)
    except RetriableError:
        raise
    except FatalError as exc:
        return _fail(dv, agreement_id, f"Partner Center refused the attestation: {exc.message}")
    agreements.mark_attested(dv, agreement_id, agreed, AGREEMENT_TYPE)
    accounts.mark_mca_attested(dv, account_id)
    return AttestResult(agreement_id, "Attested")


def _record_portal_acceptance(dv: DataverseClient, provider_account_id: str, contact: Mapping[str, str],
                              date_agreed: datetime | None) -> str:
    email = (contact.get("email") or "").strip().lower()
    if not email:
        raise ValidationError("MCA attestation needs the accepting person's email")
    agreed = date_agreed or datetime.now(UTC)
    key = f"mca|{provider_account_id}|{email}"
    return agreements.record_acceptance(dv, Acceptance(
        key=key, provider_account_id=provider_account_id, email=email, first_name=contact.get("firstName") or "",
        last_name=contact.get("lastName") or "", phone=contact.get("phoneNumber") or None, date_agreed=agreed,
        agreement_type=AGREEMENT_TYPE))


def _fail(dv: DataverseClient, agreement_id: str, message: str) -> AttestResult:
    agreements.mark_failed(dv, agreement_id, message)
    return AttestResult(agreement_id, "Failed", message)


def is_attested(dv: DataverseClient, provider_account_id: str) -> bool:
    return accounts.mca_attested(dv, provider_account_id)
