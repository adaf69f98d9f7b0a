"""Invoice runs written in bulk: the same plan and the same crash-safe write order as
billing.run_service, but each step sent for many invoices at once (UpsertMultiple, or $batch where
a table lacks it) instead of four to six requests per invoice.

`BulkBillingRepository` reads like DataverseBillingRepository and collects the writes that
execute_run makes; `flush` sends them in the order run_service documents, step by step across
all the run's invoices:
1. headers of new invoices (CreateMultiple, create-only like the per-invoice path, with
   client-generated ids so nothing is read back between steps; status "writing");
2. their lines (UpsertMultiple on cspb_linekey; a line already there is rewritten identically);
3. the change logs and usage summaries they billed, linked to their invoice ($batch PATCH by id);
4. revenue schedules (UpsertMultiple on cspb_schedulekey);
5. header totals and the complete status (UpdateMultiple by id);
6. contracts' next invoice dates ($batch PATCH by id).
A crash between steps leaves invoices in "writing", which the next run finishes, exactly as with
the per-invoice writes (a table without the bulk messages gets the $batch fallback of bulk_upsert;
a refused CreateMultiple makes the run fall back to the per-invoice writes).

Step 0, one read per 100 keys: an invoice planned as new that another run wrote meanwhile is
left to that run (complete: nothing of ours is written for it; still "writing": the next run
finishes it), so nothing is billed twice and no period is skipped.

Unverified: that every org enables CreateMultiple/UpdateMultiple on invoice (a standard table;
Microsoft says not all standard tables have them). Refused -> the per-invoice fallback.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from billing.models import (
    BillingContract,
    ExchangeRate,
    Invoice,
    InvoiceLine,
    RevenueScheduleEntry,
    UsageSummary,
)
from billing.run_service import RunResult, StoredInvoice, execute_run
from dataverse import map_billing as m
from dataverse.batch import MAX_BATCH_REQUESTS, BatchRequest
from dataverse.billing_repo import DataverseBillingRepository, invoice_exchange_rate
from dataverse.client import DataverseClient
from dataverse.odata import id_segment
from dataverse.tables import EntitySet, Table
from shared.errors import IntegrationError, RetriableError

INVOICE_ID, LINE_KEY, SCHEDULE_KEY = "invoiceid", "cspb_linekey", "cspb_schedulekey"


@dataclass
class _Pending:
    """One invoice's writes, held until flush."""

    key: str
    id: str
    header: dict[str, Any] | None = None
    lines: list[InvoiceLine] = field(default_factory=list)
    line_rows: list[dict[str, Any]] = field(default_factory=list)
    links: list[BatchRequest] = field(default_factory=list)
    revenue: list[dict[str, Any]] = field(default_factory=list)
    complete: dict[str, Any] | None = None


class BulkBillingRepository(DataverseBillingRepository):
    def __init__(self, client: DataverseClient, *, rates: Sequence[ExchangeRate] = ()) -> None:
        super().__init__(client, rates=rates)
        self._known: dict[str, StoredInvoice] = {}
        self._pending: dict[str, _Pending] = {}
        self._key_of_id: dict[str, str] = {}
        self._new_ids: set[str] = set()
        self._next_dates: list[BatchRequest] = []

    # ---- reads that tell us what exists ----------------------------------------------------------

    def invoice_states(self, keys: Sequence[str]) -> dict[str, StoredInvoice]:
        found = super().invoice_states(keys)
        self._remember(found)
        return found

    def incomplete_invoices(self, contract_numbers: Sequence[str] | None = None) -> dict[str, StoredInvoice]:
        found = super().incomplete_invoices(contract_numbers)
        self._remember(found)
        return found

    def _remember(self, found: dict[str, StoredInvoice]) -> None:
        self._known.update(found)
        self._key_of_id.update({s.id: k for k, s in found.items()})

    def _for(self, invoice_id: str) -> _Pending:
        key = self._key_of_id[invoice_id]
        return self._pending.setdefault(key, _Pending(key, invoice_id))

    # ---- writes, collected ----------------------------------------------------------------------

    def create_invoice(self, invoice: Invoice) -> StoredInvoice:
        known = self._known.get(invoice.key)
        if known is not None:
            return known
        if invoice.exchange_rate is None:
            invoice = replace(invoice, exchange_rate=invoice_exchange_rate(invoice, self._sources, self._rates))
        new_id = str(uuid.uuid4())
        self._key_of_id[new_id] = invoice.key
        self._new_ids.add(new_id)
        self._pending[invoice.key] = _Pending(invoice.key, new_id, header={INVOICE_ID: new_id,
                                                                           **m.invoice_header_row(invoice)})
        return StoredInvoice(new_id, False)

    def create_lines(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> int:
        pending = self._for(invoice_id)
        pending.lines.extend(lines)
        pending.line_rows.extend(m.line_row(line, invoice_id, n) for n, line in enumerate(lines, start=1))
        return len(lines)

    def link_billed(self, invoice_id: str, change_log_ids: Sequence[str], summaries: Sequence[UsageSummary]) -> None:
        link = m.invoice_link(invoice_id)
        pending = self._for(invoice_id)
        pending.links.extend(BatchRequest("PATCH", id_segment(EntitySet.LICENSE_CHANGE_LOGS, cid), link,
                                          {"If-Match": "*"}) for cid in change_log_ids)
        pending.links.extend(BatchRequest("PATCH", id_segment(EntitySet.USAGE_SUMMARIES, u.id or ""),
                                          m.usage_billed_row(invoice_id, u), {"If-Match": "*"})
                             for u in summaries if u.id)

    def invoice_lines(self, invoice_id: str) -> list[InvoiceLine]:
        pending = self._pending.get(self._key_of_id.get(invoice_id, ""))
        stored = [] if invoice_id in self._new_ids else super().invoice_lines(invoice_id)
        have = {ln.key for ln in stored}
        return stored + [ln for ln in (pending.lines if pending else []) if ln.key not in have]

    def write_revenue_schedule(self, entries: Sequence[RevenueScheduleEntry]) -> None:
        by_invoice: dict[str, list[RevenueScheduleEntry]] = {}
        for entry in entries:
            by_invoice.setdefault(entry.invoice_id or "", []).append(entry)
        for invoice_id, group in by_invoice.items():
            if invoice_id in self._key_of_id:
                self._for(invoice_id).revenue.extend(m.revenue_row(e) for e in group)
            else:
                super().write_revenue_schedule(group)

    def complete_invoice(self, invoice_id: str, lines: Sequence[InvoiceLine]) -> None:
        if invoice_id not in self._key_of_id:
            super().complete_invoice(invoice_id, lines)
            return
        self._for(invoice_id).complete = m.invoice_complete_row(list(lines))

    def set_next_invoice_date(self, contract: BillingContract, day: date) -> None:
        if contract.id:
            self._next_dates.append(BatchRequest("PATCH", id_segment(EntitySet.BILLING_CONTRACTS, contract.id),
                                                 {"cspb_nextinvoicedate": day}, {"If-Match": "*"}))

    # ---- flush ----------------------------------------------------------------------------------

    def flush(self) -> set[str]:
        """Send everything collected, in the crash-safe order. Returns the keys of invoices skipped
        because another run completed them first."""
        pending = self._pending
        new_keys = [k for k, p in pending.items() if p.header is not None]
        skipped: set[str] = set()
        if new_keys:
            for key in super().invoice_states(new_keys):
                skipped.add(key)  # another run wrote it meanwhile: complete, or that run's to finish
                del pending[key]
        todo = list(pending.values())
        dv = self.dv
        headers = [p.header for p in todo if p.header is not None]
        if headers:
            dv.create_multiple(EntitySet.INVOICES, Table.INVOICE, headers)
        _upsert(dv, EntitySet.INVOICE_DETAILS, Table.INVOICE_DETAIL, LINE_KEY, [r for p in todo for r in p.line_rows])
        _patch(dv, [r for p in todo for r in p.links])
        _upsert(dv, EntitySet.REVENUE_SCHEDULES, Table.REVENUE_SCHEDULE, SCHEDULE_KEY,
                [r for p in todo for r in p.revenue])
        completes = [{INVOICE_ID: p.id, **p.complete} for p in todo if p.complete is not None]
        if completes:
            dv.update_multiple(EntitySet.INVOICES, Table.INVOICE, completes)
        _patch(dv, self._next_dates)
        self._pending = {}
        self._next_dates = []
        return skipped


def _upsert(dv: DataverseClient, entity_set: str, logical: str, key: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        dv.bulk_upsert(entity_set, logical, [key], rows)


def _patch(dv: DataverseClient, requests: list[BatchRequest]) -> None:
    for i in range(0, len(requests), MAX_BATCH_REQUESTS):
        dv.batch(requests[i:i + MAX_BATCH_REQUESTS], changeset=True)


def execute_bulk_run(dv: DataverseClient, run_date: date, *, rates: Sequence[ExchangeRate] = (), global_refund: bool = True,
                     catch_up_days: int | None = None, contract_numbers: Sequence[str] | None = None,
                     **kwargs: Any) -> RunResult:
    """execute_run with every write step sent in bulk. Only RetriableError escapes (a re-run is
    idempotent); if Dataverse refuses a bulk write, the run is written again invoice by invoice
    (DataverseBillingRepository), so one bad invoice is reported alone and the rest are billed."""
    repo = BulkBillingRepository(dv, rates=rates)
    result = execute_run(repo, run_date, global_refund=global_refund, catch_up_days=catch_up_days,
                         contract_numbers=contract_numbers, **kwargs)
    try:
        skipped = repo.flush()
    except RetriableError:
        raise
    except IntegrationError:
        # Whatever did get written is safe to find again: the per-invoice run finishes it.
        return execute_run(DataverseBillingRepository(dv, rates=rates), run_date, global_refund=global_refund,
                           catch_up_days=catch_up_days, contract_numbers=contract_numbers, **kwargs)
    if skipped:
        dropped = [inv for inv in result.invoices if inv.key in skipped]
        result.invoices = [inv for inv in result.invoices if inv.key not in skipped]
        result.created -= len(dropped)
        result.lines_written -= sum(len(inv.lines) for inv in dropped)
    return result
