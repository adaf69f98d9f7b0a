"""Billing jobs wired to the configured Dataverse: the daily invoice run (timer and CLI), the
preview, and the revenue-schedule export. Each run writes a cspb_syncrun row (kind "billing")."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from billing.deferred_revenue import to_csv
from billing.models import ExchangeRate, Invoice
from billing.run_service import RunResult, execute_run, preview_contract
from dataverse.billing_repo import DataverseBillingRepository
from shared.errors import IntegrationError


def _client(dv: Any) -> Any:
    if dv is not None:
        return dv
    from dataverse.client import DataverseClient

    return DataverseClient.from_settings()


def global_refund() -> bool:
    from shared.config import get_settings

    return get_settings().refund_policy != "no_refund"


def run(run_date: date, *, dv: Any = None, contract_numbers: Sequence[str] | None = None,
        catch_up_days: int | None = 31, rates: Sequence[ExchangeRate] = (),
        progress: Callable[[int], None] | None = None,
        on_planned: Callable[[int], None] | None = None) -> RunResult:
    from sync import runs as syncruns

    client = _client(dv)
    record = syncruns.start(client, "billing", f"billing:{run_date.isoformat()}:{uuid.uuid4().hex[:8]}")
    try:
        result = execute_run(DataverseBillingRepository(client, rates=rates), run_date,
                             global_refund=global_refund(), catch_up_days=catch_up_days,
                             contract_numbers=contract_numbers, progress=progress, on_planned=on_planned)
    except IntegrationError as exc:
        record.error(str(exc))
        syncruns.finish(record, failed=True)
        raise
    record.counts.update({"invoices": result.created, "resumed": result.resumed, "lines": result.lines_written,
                          "revenueEntries": result.revenue_entries})
    for contract, message in result.errors:
        record.error(f"{contract}: {message}")
    syncruns.finish(record)
    return result


def preview(contract_number: str, on_date: date, *, dv: Any = None,
            rates: Sequence[ExchangeRate] = ()) -> Invoice | None:
    repo = DataverseBillingRepository(_client(dv), rates=rates)
    return preview_contract(repo, contract_number, on_date, global_refund=global_refund())


def revenue_csv(*, dv: Any = None, invoice_id: str | None = None) -> str:
    return to_csv(DataverseBillingRepository(_client(dv)).revenue_schedule(invoice_id))
