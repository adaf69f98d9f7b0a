"""Run an invoice run against a store: plan (billing/runs.py), then write idempotently.

The store is any object with the BillingRepository methods (dataverse/billing_repo.py is the
Dataverse one), so billing/ never imports Dataverse.

Write order per invoice, so that a crash anywhere leaves something a re-run finishes instead of
duplicating:
1. the invoice header, create-only on its key (contract|cycle start|cycle kind), status "writing";
   if it exists already, its id is re-read and reused;
2. its lines, create-only on their line keys (an existing line is left as it is);
3. the change logs and usage summaries it billed get their invoice link (a summary also records
   the cost and source it was billed on, for a later true-up);
4. prepaid quarterly/annual/triennial invoices get their revenue schedule (upsert on its key),
   computed from the lines actually stored;
5. header totals are set from those lines, and the status becomes complete.
A complete invoice is never planned again; a half-written one is planned and written again, and
steps 1-2 turn into no-ops for what is already there.

After a contract's invoices are written, its next invoice date moves to the first cycle not
invoiced yet (never past one whose invoice failed), so the next run, however late, starts there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Protocol

from billing.changelog_invoices import changelog_key, changelog_month
from billing.cycles import cycle_at, cycle_containing, due_cycles, invoice_date
from billing.deferred_revenue import needs_schedule, schedule
from billing.models import (
    BillingContract,
    ChangeLog,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    LineType,
    RevenueScheduleEntry,
    UsageSummary,
    invoice_key,
)
from billing.runs import BillingData, RunPlan, plan_run, preview, summarize
from shared.dates import require_date
from shared.errors import IntegrationError, RetriableError, ValidationError
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class StoredInvoice:
    id: str
    complete: bool


class BillingRepository(Protocol):
    def load(self, contract_numbers: Sequence[str] | None = None) -> BillingData: ...

    def invoice_states(self, keys: Sequence[str]) -> dict[str, StoredInvoice]: ...

    def incomplete_invoices(self, contract_numbers: Sequence[str] | None = None) -> dict[str, StoredInvoice]:
        """Invoices left half-written by an earlier run (any date)."""
        ...

    def line_owners(self, line_keys: Sequence[str]) -> dict[str, str]:
        """line key -> id of the invoice holding it, for the keys that exist."""
        ...

    def create_invoice(self, invoice: Invoice) -> StoredInvoice:
        """Create-only on the invoice key; when it exists, return the stored one."""
        ...

    def create_lines(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> int:
        """Create-only on each line key, skipping lines that exist; returns how many were created."""
        ...

    def link_billed(self, invoice_id: str, change_log_ids: Sequence[str], summaries: Sequence[UsageSummary]) -> None:
        """Set the invoice link on billed change logs, and billed + link + billed cost/source on usage summaries."""
        ...

    def set_next_invoice_date(self, contract: BillingContract, day: date) -> None: ...

    def settle_change_logs(self, change_log_ids: Sequence[str]) -> None:
        """Archive change logs whose effect the full lines already carry and no invoice holds."""
        ...

    def invoice_lines(self, invoice_id: str) -> list[InvoiceLine]: ...

    def complete_invoice(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> None: ...

    def write_revenue_schedule(self, entries: Sequence[RevenueScheduleEntry]) -> None: ...


@dataclass
class RunResult:
    run_date: date
    invoices: list[Invoice] = field(default_factory=list)  # as stored, after this run
    created: int = 0
    resumed: int = 0  # half-written invoices this run completed
    lines_written: int = 0
    revenue_entries: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, dict[str, Decimal | int]]:
        return summarize(self.invoices)


# Lines that carry no invoice id of their own to remember that they were billed.
def _remembered_by_key_only(line: InvoiceLine) -> bool:
    return line.line_type is LineType.ONE_TIME or line.key.endswith("|start|prorate")


def _due_keys(contracts: Iterable[BillingContract], run_date: date, catch_up_days: int | None = None) -> list[str]:
    keys = []
    for c in contracts:
        keys += [invoice_key(c.number, cy.start, InvoiceKind.CYCLE) for cy in due_cycles(c, run_date, catch_up_days)]
        month = changelog_month(c, run_date)
        if month is not None:
            keys.append(changelog_key(c, month))
    return keys


def _drop_lines_billed_elsewhere(plan_invoices: list[Invoice], repo: BillingRepository,
                                 states: dict[str, StoredInvoice]) -> list[Invoice]:
    candidates = [ln.key for inv in plan_invoices for ln in inv.lines if _remembered_by_key_only(ln)]
    owners = repo.line_owners(candidates) if candidates else {}
    kept = []
    for inv in plan_invoices:
        mine = states.get(inv.key)
        lines = tuple(ln for ln in inv.lines
                      if ln.key not in owners or (mine is not None and owners[ln.key] == mine.id))
        if lines:
            kept.append(replace(inv, lines=lines))
    return kept


def plan(repo: BillingRepository, run_date: date, *, global_refund: bool = True, catch_up_days: int | None = None,
         contract_numbers: Sequence[str] | None = None) -> tuple[RunPlan, BillingData, dict[str, StoredInvoice]]:
    data = repo.load(contract_numbers)
    states = repo.invoice_states(_due_keys(data.contracts, run_date))
    states.update(repo.incomplete_invoices(contract_numbers))
    done = [k for k, s in states.items() if s.complete]
    result = plan_run(data, run_date, global_refund=global_refund, existing_invoice_keys=done,
                      catch_up_days=catch_up_days, reopen_keys=[k for k, s in states.items() if not s.complete])
    result.invoices = _drop_lines_billed_elsewhere(result.invoices, repo, states)
    return result, data, states


def write_invoice(repo: BillingRepository, inv: Invoice, contract: BillingContract,
                  logs_by_key: dict[str, ChangeLog], usage_by_key: dict[str, UsageSummary]) -> tuple[Invoice, bool, int, int]:
    """Write one planned invoice; returns (stored invoice, created, lines written, revenue entries)."""
    stored = repo.create_invoice(inv)
    if stored.complete:
        # Another run finished it between our plan and now.
        return replace(inv, id=stored.id, complete=True), False, 0, 0
    written = repo.create_lines(stored.id, inv.lines)
    change_ids = [c.id for c in (logs_by_key.get(k) for k in inv.change_log_keys)
                  if c is not None and c.id and c.invoice_id is None]
    summaries = [u for u in (usage_by_key.get(k) for k in inv.usage_summary_keys) if u is not None and u.id]
    if change_ids or summaries:
        repo.link_billed(stored.id, change_ids, summaries)
    lines = repo.invoice_lines(stored.id)
    final = replace(inv, id=stored.id, complete=True, lines=tuple(sorted(lines, key=lambda ln: ln.key)))
    entries = 0
    if needs_schedule(contract.frequency, contract.policy):
        # Before completing: a complete invoice is never revisited, so its schedule must exist by then.
        revenue = schedule(final)
        repo.write_revenue_schedule(revenue)
        entries = len(revenue)
    repo.complete_invoice(stored.id, lines)
    return final, True, written, entries


def finish_invoice(repo: BillingRepository, key: str, stored: StoredInvoice, contract: BillingContract) -> int | None:
    """Complete a half-written invoice the re-plan has nothing left to add to (its lines and links
    were all written before the crash). Returns revenue entries written, or None when no line was
    stored yet: then nothing was linked either, and the run whose date plans it will write it."""
    lines = repo.invoice_lines(stored.id)
    if not lines:
        return None
    entries = 0
    if needs_schedule(contract.frequency, contract.policy) and lines:
        number, start, kind = key.split("|")
        day = require_date(start, "invoice key")
        inv = Invoice(key=key, contract_number=number, kind=InvoiceKind(kind), period_start=day,
                      period_end=day, invoice_date=day,
                      currency=contract.currency, lines=tuple(lines), id=stored.id, contract_id=contract.id)
        revenue = schedule(inv)
        repo.write_revenue_schedule(revenue)
        entries = len(revenue)
    repo.complete_invoice(stored.id, lines)
    return entries


def next_invoice_dates(contracts: Iterable[BillingContract], run_date: date, failed_cycles: dict[str, set[date]],
                       failed_contracts: set[str]) -> dict[str, date]:
    """Per contract (number): the invoice date of its first cycle not invoiced after this run, when
    that moved. A contract the run could not bill keeps its date; a failed cycle invoice holds it."""
    out = {}
    for c in contracts:
        if c.number in failed_contracts:
            continue
        due = due_cycles(c, run_date)
        if not due:
            continue
        held = sorted(failed_cycles.get(c.number, ()))
        if held:
            cycle = cycle_containing(c, held[0])
        else:
            cycle = cycle_at(c, due[-1].index + 1)
        if cycle is None:
            continue
        when = invoice_date(c, cycle)
        if c.next_invoice_date is None or when > c.next_invoice_date:
            out[c.number] = when
    return out


def execute_run(repo: BillingRepository, run_date: date, *, global_refund: bool = True,
                catch_up_days: int | None = None, contract_numbers: Sequence[str] | None = None,
                progress: Callable[[int], None] | None = None,
                on_planned: Callable[[int], None] | None = None) -> RunResult:
    """Plan and write the run. Only RetriableError escapes (the host retries and the re-run is
    idempotent); any other failure is recorded per contract and the run goes on."""
    planned, data, states = plan(repo, run_date, global_refund=global_refund, catch_up_days=catch_up_days,
                                 contract_numbers=contract_numbers)
    result = RunResult(run_date, errors=list(planned.errors))
    contracts = {c.number: c for c in data.contracts}
    logs_by_key = {c.change_key: c for c in data.change_logs}
    usage_by_key = {u.summary_key: u for u in data.usage}
    if on_planned is not None:
        on_planned(len(planned.invoices))
    failed_cycles: dict[str, set[date]] = {}
    for inv in planned.invoices:
        if progress is not None:
            progress(1)
        try:
            final, created, written, entries = write_invoice(repo, inv, contracts[inv.contract_number], logs_by_key, usage_by_key)
        except RetriableError:
            raise
        except IntegrationError as exc:
            log.warning("invoice %s not written: %s", inv.key, exc)
            result.errors.append((inv.contract_number, f"{inv.key}: {exc}"))
            if inv.kind is InvoiceKind.CYCLE:
                failed_cycles.setdefault(inv.contract_number, set()).add(inv.period_start)
            continue
        if inv.key in states and not states[inv.key].complete:
            result.resumed += 1
        elif created:
            result.created += 1
        result.lines_written += written
        result.revenue_entries += entries
        result.invoices.append(final)
    written_keys = {inv.key for inv in planned.invoices}
    for key, stored in sorted(states.items()):
        contract = contracts.get(key.split("|", 1)[0])
        if stored.complete or key in written_keys or contract is None:
            continue
        try:
            finished = finish_invoice(repo, key, stored, contract)
        except RetriableError:
            raise
        except IntegrationError as exc:
            result.errors.append((contract.number, f"{key}: {exc}"))
            continue
        if finished is not None:
            result.revenue_entries += finished
            result.resumed += 1
    settled = [c.id for c in (logs_by_key.get(k) for k in planned.settled_change_keys) if c is not None and c.id]
    if settled:
        repo.settle_change_logs(settled)
    failed_contracts = {number for number, _ in planned.errors}
    for number, day in next_invoice_dates(data.contracts, run_date, failed_cycles, failed_contracts).items():
        repo.set_next_invoice_date(contracts[number], day)
    return result


def preview_contract(repo: BillingRepository, contract_number: str, on_date: date, *,
                     global_refund: bool = True) -> Invoice | None:
    """The contract's next invoice, computed from the store, without writing anything."""
    data = repo.load([contract_number])
    if not data.contracts:
        raise ValidationError(f"no billing contract {contract_number!r}")
    contract = data.contracts[0]
    # Keys of the cycles around the date, to skip ones already invoiced.
    keys = _due_keys([contract], on_date, None)[-3:]
    nxt = preview(contract, data, on_date, global_refund=global_refund)
    if nxt is not None:
        keys.append(nxt.key)
    done = [k for k, s in repo.invoice_states(keys).items() if s.complete]
    return preview(contract, data, on_date, global_refund=global_refund, existing_invoice_keys=done)


