"""The rows dunning reads and writes: overdue invoices, the contract's dunning policy, the dunning events
recorded on an invoice (one row per step, keyed so a rerun never records a step twice), and the task
that asks a person to decide about suspension."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from billing.dunning import DunningPolicy, DunningStep, policy_from
from billing.money import parse_decimal
from dataverse.client import DataverseClient
from shared.dates import require_date
from shared.errors import ValidationError

INVOICES = "invoices"
CONTRACTS = "cspb_billingcontracts"
EVENTS = "cspb_dunningevents"
TASKS = "tasks"
PAID = 3  # invoice.cspb_paymentstatus


@dataclass(frozen=True)
class OverdueInvoice:
    id: str
    number: str
    account_id: str | None
    contract_id: str | None
    currency: str
    balance: Decimal
    due_date: date


@dataclass(frozen=True)
class ContractDunning:
    policy: DunningPolicy
    can_retry: bool  # auto-charge on and a payment method on file


def overdue_invoices(dv: DataverseClient, today: date) -> list[OverdueInvoice]:
    rows = dv.list(INVOICES, select=["invoiceid", "invoicenumber", "name", "_customerid_value",
                                     "_cspb_billingcontract_value", "cspb_currencycode", "cspb_balance",
                                     "cspb_paymentstatus", "duedate"],
                   filter=f"duedate lt {today.isoformat()} and cspb_balance gt 0")
    found = []
    for row in rows:
        if row.get("cspb_paymentstatus") == PAID or not row.get("duedate"):
            continue
        found.append(OverdueInvoice(
            id=row["invoiceid"], number=row.get("invoicenumber") or row.get("name") or row["invoiceid"],
            account_id=row.get("_customerid_value"), contract_id=row.get("_cspb_billingcontract_value"),
            currency=row.get("cspb_currencycode") or "USD", balance=parse_decimal(row.get("cspb_balance") or "0"),
            due_date=require_date(row["duedate"], "duedate")))
    return sorted(found, key=lambda invoice: (invoice.due_date, invoice.number))


def contract_dunning(dv: DataverseClient, contract_id: str) -> ContractDunning:
    row = dv.get(CONTRACTS, contract_id, select=[
        "cspb_contractnumber", "cspb_dunningreminderdays", "cspb_dunningretrydays", "cspb_dunningfinalday",
        "cspb_dunningsuspendday", "cspb_dunningoff", "cspb_autocharge", "cspb_paymenttoken"])
    try:
        policy = policy_from(row.get("cspb_dunningreminderdays"), row.get("cspb_dunningretrydays"),
                             row.get("cspb_dunningfinalday"), row.get("cspb_dunningsuspendday"),
                             bool(row.get("cspb_dunningoff")))
    except ValueError as exc:
        raise ValidationError(f"billing contract {row.get('cspb_contractnumber') or contract_id}: "
                              f"dunning policy {exc}") from None
    return ContractDunning(policy, bool(row.get("cspb_autocharge")) and bool(row.get("cspb_paymenttoken")))


def done_steps(dv: DataverseClient, invoice_id: str) -> set[tuple[int, int]]:
    rows = dv.list(EVENTS, select=["cspb_kind", "cspb_step"], filter=f"_cspb_invoice_value eq {invoice_id}")
    return {(int(r["cspb_kind"]), int(r["cspb_step"])) for r in rows if r.get("cspb_kind") is not None}


def record_step(dv: DataverseClient, invoice: OverdueInvoice, step: DunningStep, today: date, outcome: str) -> None:
    dv.upsert(EVENTS, {"cspb_eventkey": step.key(invoice.id)}, {
        "cspb_name": f"{invoice.number} {step.kind.name.lower()} {step.step}",
        "cspb_invoice@odata.bind": f"/{INVOICES}({invoice.id})", "cspb_kind": int(step.kind),
        "cspb_step": step.step, "cspb_daysoverdue": step.days_overdue, "cspb_date": today.isoformat(),
        "cspb_outcome": outcome[:4000]})


def set_status(dv: DataverseClient, invoice_id: str, text: str) -> None:
    dv.update(INVOICES, invoice_id, {"cspb_dunningstatus": text[:400]})


def create_review_task(dv: DataverseClient, invoice: OverdueInvoice, subject: str, description: str, due: date) -> str:
    """A task for a person, regarding the customer's account."""
    body: dict[str, Any] = {"subject": subject[:200], "description": description, "prioritycode": 2,
                            "scheduledend": datetime.combine(due, time(9)).isoformat() + "Z"}
    if invoice.account_id:
        body["regardingobjectid_account_task@odata.bind"] = f"/accounts({invoice.account_id})"
    return str(dv.create(TASKS, body))
