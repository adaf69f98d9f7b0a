"""Monthly deferred-revenue journal: release last month's revenue into the accounting system.

With an accounting target configured (QuickBooks or Business Central) the journal is pushed there and the
schedule rows are marked exported; with none, the CSV is kept in Blob Storage for the accountant. Either
way the file is kept, so the month's entries can be read back whatever happened to the push."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from dataverse.client import DataverseClient

if TYPE_CHECKING:
    from accounting.base import AccountingTarget


@dataclass(frozen=True)
class JournalExport:
    month: str
    blob_path: str
    pushed_to: str | None
    entries: int


def previous_month(today: date) -> str:
    last = today.replace(day=1) - timedelta(days=1)
    return f"{last.year:04d}-{last.month:02d}"


def export_last_month(today: date, *, dv: DataverseClient | None = None,
                      target: AccountingTarget | str | None = None) -> JournalExport:
    """`target`: an AccountingTarget, a target name, or None for the configured CSPB_ACCOUNTING_TARGET."""
    from accounting import service
    from accounting.journal_export import render
    from dataverse.client import client_or_default
    from shared.blobstore import blob_store_from_settings
    from shared.config import get_settings

    dv = client_or_default(dv)
    month = previous_month(today)
    chosen = target if target is not None else get_settings().accounting_target
    pushed_to = chosen if not isinstance(chosen, str) else chosen if chosen in ("quickbooks", "businesscentral") else None
    entries, _ = service.deferred_revenue_entries(dv, month)
    path = f"accounting/journal/{month}.csv"
    blob_store_from_settings().put(path, render(entries, "csv"), content_type="text/csv")
    if pushed_to is not None and entries:
        service.export_deferred_revenue(month, target=pushed_to, dv=dv)
    label = pushed_to if isinstance(pushed_to, str) or pushed_to is None else type(pushed_to).__name__
    return JournalExport(month, path, label, len(entries))
