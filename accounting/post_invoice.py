"""Post-invoice jobs, run after an invoice is complete: send, charge, accounting push.

Each job is idempotent and writes its outcome on the invoice (send status; the payment
columns via payments.service; accounting status / error), and a failing job never stops the
others. The contract's auto-send / auto-charge / auto-sync switches turn them on. "Send" renders the invoice (HTML plus a PDF attachment, contract language) into the blob store
outbox (outbox/invoices/<number>.html|.pdf|.json) addressed to the primary billing contact; mail
delivery goes through shared.mail (SMTP or Graph sendMail); with the "outbox" backend it stops there.

The run's day (`today`) comes from the caller, as every job's does (the timer passes the UTC date, the
demo and the CLI their as-of date): the "Sent on" stamp and the payment date are that day, never the
machine's clock, so a run on a given as-of date writes the same state whenever it runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from accounting import invoice_mail
from accounting import service as accounting
from accounting.base import AccountingTarget
from accounting.render import render_invoice_html, render_invoice_pdf
from dataverse.client import DataverseClient, client_or_default
from dataverse.stores import invoices
from payments import invoice_records as records
from payments import service as payments
from payments.base import PaymentProcessor
from shared.blobstore import BlobStore, blob_store_from_settings
from shared.config import get_settings
from shared.errors import IntegrationError, RetriableError
from shared.logging import get_logger
from shared.mail import Mailer, mailer_from_settings

log = get_logger(__name__)

JOBS = ("send", "charge", "accounting")


def send_invoice(invoice: records.InvoiceDoc, contract: records.ContractSettings, *, today: date, dv: DataverseClient,
                 store: BlobStore, mailer: Mailer | None = None) -> str:
    if (invoice.send_status or "").startswith(("Queued", "Sent")):
        return "already sent"
    contact = records.billing_contact(dv, contract)
    email = contact.email if contact else ""
    if not contact or not email:
        status = "Failed: the contract has no primary billing contact with an email address"
        invoices.set_send_status(dv, invoice.id, status)
        return status
    account = records.load_account(dv, invoice.account_id)
    name = contact.display_name
    language = contract.language or invoice.language
    mailer = mailer or mailer_from_settings()
    if mailer.name == "outbox":
        return _queue_to_outbox(invoice, today=today, dv=dv, store=store, email=email,
                                customer=records.customer_party(account), contact=name, language=language)
    mail = invoice_mail.compose(invoice, to=email, customer=records.customer_party(account), contact=name,
                                language=language, partner=get_settings().mail_from_name)
    message_id = mailer.send(mail)
    status = f"Sent to {email} on {today.isoformat()} ({mailer.name} {message_id})"
    invoices.set_send_status(dv, invoice.id, status[:4000])
    return status


def _queue_to_outbox(invoice: records.InvoiceDoc, *, today: date, dv: DataverseClient, store: BlobStore, email: str,
                     customer: records.Party, contact: str, language: str) -> str:
    """No mail delivery configured: the rendered invoice waits in the blob store outbox."""
    html = render_invoice_html(invoice, customer=customer, contact=contact, language=language)
    pdf = render_invoice_pdf(invoice, customer=customer, contact=contact, language=language)
    stem = invoice_mail.file_stem(invoice)
    store.put(f"outbox/invoices/{stem}.html", html.encode(), content_type="text/html; charset=utf-8")
    store.put(f"outbox/invoices/{stem}.pdf", pdf, content_type="application/pdf")
    store.put(f"outbox/invoices/{stem}.json", json.dumps({"to": email, "subject": f"Invoice {invoice.number}",
                                                          "html": f"outbox/invoices/{stem}.html",
                                                          "attachments": [f"outbox/invoices/{stem}.pdf"]}).encode(),
              content_type="application/json")
    status = f"Queued to {email} on {today.isoformat()}"
    invoices.set_send_status(dv, invoice.id, status)
    return status


def run_post_invoice_jobs(invoice_id: str, *, today: date, dv: DataverseClient | None = None, jobs: tuple[str, ...] = JOBS,
                          processor: PaymentProcessor | None = None, target: AccountingTarget | str | None = None,
                          store: BlobStore | None = None) -> dict[str, str]:
    """Run the enabled jobs for one invoice; returns job -> outcome in plain words.
    A RetriableError from any job is re-raised after the others ran, so the queue retries."""
    dv = client_or_default(dv)
    invoice = records.load_invoice(dv, invoice_id)
    contract = records.load_contract(dv, invoice)
    outcomes: dict[str, str] = {}
    retry: RetriableError | None = None
    for job in jobs:
        try:
            if job == "send":
                outcomes[job] = (send_invoice(invoice, contract, today=today, dv=dv,
                                              store=store or blob_store_from_settings())
                                 if contract.auto_send else "skipped (auto-send is off)")
            elif job == "charge":
                if contract.auto_charge:
                    result = payments.charge_invoice(invoice_id, dv=dv, processor=processor, today=today)
                    outcomes[job] = f"{result.status} {result.amount} {invoice.currency} {result.message} " \
                                    f"{result.action_url}".strip()
                else:
                    outcomes[job] = "skipped (auto-charge is off)"
            elif job == "accounting":
                name = target if target is not None else get_settings().accounting_target
                if not contract.auto_sync or name == "none":
                    outcomes[job] = "skipped (auto-sync is off)"
                elif records.load_invoice(dv, invoice_id).accounting_status == records.ACCOUNTING_SYNCED:
                    outcomes[job] = "already synced"
                else:
                    resolved = accounting.target_for(name) if isinstance(name, str) else name
                    accounting.export_invoice(invoice_id, target=resolved, dv=dv)
                    outcomes[job] = f"synced to {resolved.name}"
            else:
                outcomes[job] = "unknown job"
        except RetriableError as exc:
            outcomes[job] = f"will retry: {exc}"
            retry = retry or exc
        except IntegrationError as exc:
            outcomes[job] = f"failed: {exc}"
    log.info("post-invoice jobs for %s: %s", invoice.number, outcomes)
    if retry is not None:
        raise retry
    return outcomes


def pending_invoice_ids(dv: DataverseClient) -> list[str]:
    """Invoices with a job still to do: not sent, unpaid, or not synced."""
    return invoices.post_invoice_pending_ids(dv)


def run_pending(today: date, *, dv: DataverseClient | None = None, progress: Callable[[int], Any] | None = None,
                on_planned: Callable[[int], Any] | None = None, **kwargs: Any) -> dict[str, dict[str, str]]:
    """Run the jobs of every pending invoice. `on_planned(n)` hears how many there are and
    `progress(1)` each one done (a tqdm bar's total/update)."""
    dv = client_or_default(dv)
    ids = pending_invoice_ids(dv)
    if on_planned is not None:
        on_planned(len(ids))
    results: dict[str, dict[str, str]] = {}
    for invoice_id in ids:
        try:
            results[invoice_id] = run_post_invoice_jobs(invoice_id, today=today, dv=dv, **kwargs)
        except RetriableError as exc:
            results[invoice_id] = {"error": f"will retry: {exc}"}
        if progress is not None:
            progress(1)
    return results
