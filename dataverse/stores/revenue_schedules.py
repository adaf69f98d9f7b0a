"""cspb_revenueschedule rows as the accounting export releases them: a month's entries not exported yet,
and marking them exported once the journal is pushed. (The billing run writes them through billing_repo.)"""

from __future__ import annotations

from collections.abc import Iterable

from billing.models import RevenueScheduleEntry
from dataverse.client import DataverseClient
from dataverse.map_billing import revenue_from_row
from dataverse.odata import literal
from dataverse.tables import EntitySet


def unexported(dv: DataverseClient, month: str) -> list[tuple[str, RevenueScheduleEntry]]:
    """(row id, entry) for each of `month`'s entries not exported yet."""
    rows = dv.list(EntitySet.REVENUE_SCHEDULES, filter=f"cspb_month eq {literal(month)} and cspb_exported ne true")
    return [(str(row["cspb_revenuescheduleid"]), revenue_from_row(row)) for row in rows]


def mark_exported(dv: DataverseClient, row_ids: Iterable[str]) -> None:
    for row_id in row_ids:
        dv.update(EntitySet.REVENUE_SCHEDULES, row_id, {"cspb_exported": True})
