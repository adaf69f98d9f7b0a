"""Builds the portal from settings: Dataverse repository, the sync area's MCA attestation, the
payments area's links, and the assessment. Imported by functions/portal_http.py, the CLI and the
demo; tests build the pieces themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dataverse.client import DataverseClient
from portal import assessment as assessment_mod
from portal.app import PortalApp, create_app
from portal.services import Integrations
from shared.config import Settings

if TYPE_CHECKING:
    from dataverse.stores.payments import Payment
    from distributors.partnercenter_adapter import PartnerCenterAdapter
    from payments.base import HostedForm, SavedCard, StoredMethod
    from payments.service import ChargeOutcome
    from payments.stripe_adapter import StripeProcessor
    from portal.models import Account, Contract, Invoice
    from portal.repository import InMemoryRepository


def integrations_for(dv: DataverseClient, settings: Settings) -> Integrations:
    from portal.dataverse_repo import mca_integration

    def partner_center() -> PartnerCenterAdapter:
        from distributors.partnercenter_adapter import PartnerCenterAdapter

        return PartnerCenterAdapter.from_settings(settings)

    def link(contract: Contract) -> str:
        from payments.links import create_payment_link

        return str(create_payment_link(contract, settings=settings))

    def redeem(token: str, method: str) -> StoredMethod:
        from payments.service import redeem as redeem_link

        return redeem_link(token, method, dv=dv)

    def invoice_pdf(invoice: Invoice, account: Account) -> bytes:
        from accounting.portal_document import dataverse_invoice_pdf

        return dataverse_invoice_pdf(dv, invoice)

    def receipt_pdf(invoice: Invoice, account: Account | None, payment: Payment, history: list[Payment]) -> bytes:
        from accounting.portal_document import dataverse_receipt_pdf

        return dataverse_receipt_pdf(dv, invoice, payment, history)

    def pay(invoice: Invoice, purpose: str) -> ChargeOutcome:
        from payments.service import charge_invoice

        return charge_invoice(invoice.id, purpose=purpose, dv=dv)

    def start_card_entry(token: str, success_url: str, cancel_url: str) -> HostedForm:
        from payments import card_entry

        return card_entry.start(token, success_url=success_url, cancel_url=cancel_url, dv=dv)

    def finish_card_entry(token: str, session_ref: str) -> SavedCard:
        from payments import card_entry

        return card_entry.finish(token, session_ref, dv=dv)

    def invoice_card_link(invoice: Invoice) -> str:
        from payments import card_entry

        return card_entry.link_for_invoice(invoice.id, dv=dv, settings=settings)

    def payment_history(invoice: Invoice) -> list[Payment]:
        from payments.service import invoice_attempts

        return invoice_attempts(invoice.id, dv=dv)

    def hosted_payment(invoice: Invoice, purpose: str, cancel_url: str) -> HostedForm | None:
        from payments import hosted_payment as pay_on_page

        return pay_on_page.start(invoice.id, purpose, cancel_url=cancel_url, dv=dv)

    def payment_outcome(invoice: Invoice, key: str) -> ChargeOutcome | None:
        from payments.service import attempt_outcome

        return attempt_outcome(invoice.id, key, dv=dv)

    return Integrations(attest_mca=mca_integration(dv, partner_center), create_payment_link=link,
                        redeem_payment_link=redeem, invoice_pdf=invoice_pdf, receipt_pdf=receipt_pdf, pay_invoice=pay,
                        start_card_entry=start_card_entry, finish_card_entry=finish_card_entry,
                        invoice_card_link=invoice_card_link, payment_history=payment_history,
                        payment_outcome=payment_outcome, hosted_payment=hosted_payment)


def memory_integrations(repo: InMemoryRepository) -> Integrations:
    """`cspbridge portal --memory`: the MCA acceptance is recorded in the in-memory repository with the
    same keyword arguments the Dataverse wiring takes (nothing goes to Partner Center)."""

    def attest(*, account_id: str, contact_id: str, email: str = "", first_name: str = "",
               last_name: str = "") -> Any:
        return repo.record_attestation(account_id, contact_id)

    def pay(invoice: Invoice, purpose: str) -> ChargeOutcome:
        # No processor in memory: a contract with a saved method pays in full, one without says so.
        from dataclasses import replace

        from payments.service import ChargeOutcome
        from portal.models import PaymentStatus

        contracts = repo.list_contracts(invoice.account_id)
        if not any(c.has_payment_method for c in contracts):
            return ChargeOutcome("no_method", invoice.balance, purpose, "No payment method on file for this contract.")
        if invoice.balance <= 0:
            return ChargeOutcome("nothing_due", invoice.balance, purpose)
        # balance - balance keeps the amount's minor-unit exponent (0.00, not 0)
        repo.invoices[invoice.id] = replace(invoice, balance=invoice.balance - invoice.balance,
                                            payment_status=PaymentStatus.PAID)
        return ChargeOutcome("succeeded", invoice.balance, purpose)

    return Integrations(attest_mca=attest, pay_invoice=pay)


def memory_portal(settings: Settings, repo: InMemoryRepository | None = None, *, processor: StripeProcessor | None = None,
                  **options: Any) -> PortalApp:
    """The local portal over built-in demo data (portal.seed), wired like production but in memory.
    `processor` (e.g. portal.memory_payments.local_stripe()'s): cards are added on its hosted page and
    invoices paid through it; without one, paying is simulated."""
    from portal.seed import seeded_repository

    repo = repo if repo is not None else seeded_repository()
    source = assessment_mod.InMemorySource()
    integrations = memory_integrations(repo)
    if processor is not None:
        from portal.memory_payments import MemoryPayments

        integrations = MemoryPayments(repo, processor, settings).integrations(attest_mca=integrations.attest_mca)
    options.setdefault("integrations", integrations)
    options.setdefault("assessment", lambda store=False: assessment_mod.run(source, store=store))
    return create_app(settings, repo, **options)


def dataverse_portal(settings: Settings, dv: DataverseClient | None = None, **options: Any) -> PortalApp:
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
