"""The dunning run: for every overdue invoice, take the steps its contract's policy says are due today
(reminder, charge retry, final notice, flag for suspension), and record each on the invoice.

A step is recorded only after it was carried out, keyed (invoice, kind, step), so a rerun the same day does
nothing twice; a crash between sending a reminder and recording it resends the same Message-ID. One
invoice's failure is recorded and the run goes on with the next."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING

from billing.dunning import DunningKind, DunningStep, due_steps
from dataverse.client import DataverseClient
from shared.errors import IntegrationError, RetriableError
from shared.logging import get_logger

if TYPE_CHECKING:  # loaded where used, as the steps run
    from payments.base import PaymentProcessor
    from shared.mail import Mailer

log = get_logger(__name__)


@dataclass
class DunningReport:
    today: date
    invoices_overdue: int = 0
    done: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def _send_notice(dv: DataverseClient, invoice_id: str, step: DunningStep, mailer: Mailer) -> str:
    from accounting.invoice_mail import compose_reminder
    from payments import invoice_records as records
    from shared.config import get_settings

    doc = records.load_invoice(dv, invoice_id)
    contract = records.load_contract(dv, doc)
    contact = records.billing_contact(dv, contract)
    email = contact.email if contact else ""
    if not contact or not email:
        return "not sent: the contract has no primary billing contact with an email address"
    account = records.load_account(dv, doc.account_id)
    name = contact.display_name
    mail = compose_reminder(doc, final=step.kind == DunningKind.FINAL, days_overdue=step.days_overdue,
                            step=step.step, to=email, customer=account.name, contact=name,
                            language=contract.language or doc.language,
                            partner=get_settings().mail_from_name)
    message_id = mailer.send(mail)
    return f"sent to {email} ({message_id})"


def _retry_charge(dv: DataverseClient, invoice_id: str, step: DunningStep,
                  processor: PaymentProcessor | None, today: date) -> str:
    from payments import service as payments

    # A new purpose per retry: the processor would replay the earlier refusal for the same idempotency key.
    result = payments.charge_invoice(invoice_id, purpose=f"dunning-retry-{step.step}", dv=dv, processor=processor,
                                     today=today)
    return f"{result.status} {result.amount} {result.message}".strip()


def run(today: date, *, dv: DataverseClient | None = None, mailer: Mailer | None = None,
        processor: PaymentProcessor | None = None) -> DunningReport:
    from dataverse.client import client_or_default
    from dataverse.stores import dunning as store
    from shared.mail import mailer_from_settings

    dv = client_or_default(dv)
    report = DunningReport(today)
    overdue = store.overdue_invoices(dv, today)
    report.invoices_overdue = len(overdue)
    for invoice in overdue:
        if not invoice.contract_id:
            continue
        try:
            contract = store.contract_dunning(dv, invoice.contract_id)
            steps = due_steps(contract.policy, due_date=invoice.due_date, today=today, balance=invoice.balance,
                              done=store.done_steps(dv, invoice.id), can_retry=contract.can_retry)
            for step in steps:
                if step.kind == DunningKind.RETRY:
                    outcome = _retry_charge(dv, invoice.id, step, processor, today)
                elif step.kind == DunningKind.FLAG:
                    task = store.create_review_task(
                        dv, invoice, f"Review suspension: invoice {invoice.number} is {step.days_overdue} days overdue",
                        f"Invoice {invoice.number} ({invoice.balance} {invoice.currency}, due {invoice.due_date}) is "
                        f"{step.days_overdue} days overdue after reminders and the final notice. Decide whether to "
                        "suspend the customer's services; CSPBridge does not suspend anything at Microsoft by itself.",
                        today + timedelta(days=1))
                    outcome = f"task {task} created for a person to decide"
                else:
                    mailer = mailer or mailer_from_settings()
                    outcome = _send_notice(dv, invoice.id, step, mailer)
                store.record_step(dv, invoice, step, today, outcome)
                label = f"{step.kind.name.lower()} {step.step} on {today.isoformat()} ({step.days_overdue} days overdue)"
                store.set_status(dv, invoice.id, f"{label}: {outcome}")
                report.done[step.kind.name.lower()] += 1
                report.lines.append(f"{invoice.number}: {label}: {outcome}")
        except RetriableError:
            raise
        except IntegrationError as exc:
            report.failed.append(f"{invoice.number}: {exc}")
            log.warning("dunning %s failed: %s", invoice.number, exc)
    return report
