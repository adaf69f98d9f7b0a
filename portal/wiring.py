"""Builds the portal from settings: Dataverse repository, the sync area's MCA attestation, the
payments area's links, and the assessment. Imported by functions/portal_http.py, the CLI and the
demo; tests build the pieces themselves."""

from __future__ import annotations

from typing import Any

from portal import assessment as assessment_mod
from portal.app import PortalApp, create_app
from portal.services import Integrations
from shared.config import Settings


def integrations_for(dv: Any, settings: Settings) -> Integrations:
    from portal.dataverse_repo import mca_integration

    def partner_center() -> Any:
        from distributors.partnercenter_adapter import PartnerCenterAdapter

        return PartnerCenterAdapter.from_settings(settings)

    def link(contract: Any) -> str:
        from payments.links import create_payment_link

        return str(create_payment_link(contract, settings=settings))

    def redeem(token: str, method: str) -> Any:
        from payments.service import redeem as redeem_link

        return redeem_link(token, method, dv=dv)

    def invoice_pdf(invoice: Any, account: Any) -> bytes:
        from accounting.portal_document import dataverse_invoice_pdf

        return dataverse_invoice_pdf(dv, invoice)

    def pay(invoice: Any, purpose: str) -> Any:
        from payments.service import charge_invoice

        return charge_invoice(invoice.id, purpose=purpose, dv=dv)

    return Integrations(attest_mca=mca_integration(dv, partner_center), create_payment_link=link,
                        redeem_payment_link=redeem, invoice_pdf=invoice_pdf, pay_invoice=pay)


def memory_integrations(repo: Any) -> Integrations:
    """`cspbridge portal --memory`: the MCA acceptance is recorded in the in-memory repository with the
    same keyword arguments the Dataverse wiring takes (nothing goes to Partner Center)."""

    def attest(*, account_id: str, contact_id: str, email: str = "", first_name: str = "",
               last_name: str = "") -> Any:
        return repo.record_attestation(account_id, contact_id)

    return Integrations(attest_mca=attest)


def memory_portal(settings: Settings, repo: Any | None = None, **options: Any) -> PortalApp:
    """The local portal over built-in demo data (portal.seed), wired like production but in memory."""
    from portal.seed import seeded_repository

    repo = repo if repo is not None else seeded_repository()
    source = assessment_mod.InMemorySource()
    options.setdefault("integrations", memory_integrations(repo))
    options.setdefault("assessment", lambda store=False: assessment_mod.run(source, store=store))
    return create_app(settings, repo, **options)


def dataverse_portal(settings: Settings, dv: Any | None = None, **options: Any) -> PortalApp:
    """The production portal: data in Dataverse, sign-in per settings.mode."""
    from dataverse.client import DataverseClient
    from portal.assessment_source import DataverseAssessmentSource
    from portal.dataverse_repo import DataverseRepository

    dv = dv or DataverseClient.from_settings(settings)
    from shared.blobstore import blob_store_from_settings

    source = DataverseAssessmentSource(dv, store=blob_store_from_settings(settings))
    options.setdefault("integrations", integrations_for(dv, settings))
    options.setdefault("assessment", lambda store=False: assessment_mod.run(source, store=store))
    return create_app(settings, DataverseRepository(dv), **options)
