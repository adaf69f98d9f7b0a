"""What the recon of one month reads from Dynamics, and the one write it makes on billed usage.

- invoices_covering: the customer invoices with a line whose billed window overlaps the month. An
  invoice's header names its own cycle, but a purchase made mid-month in advance billing, or usage
  billed in arrears, is billed on a later cycle's invoice: matching on headers alone misses those
  lines and reports Microsoft's charge as a leak.
- period_summaries: a month's usage summaries (optionally one billing currency).
- reopen_summaries: a summary whose figures Microsoft revised after the customer was invoiced on it
  is no longer covered by that invoice; cspb_billed goes back to false (the invoice link and the
  billed cost stay), so the next billing run trues it up.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from billing.models import Invoice, UsageSummary
from dataverse import map_billing as m
from dataverse.batch import MAX_BATCH_REQUESTS, BatchRequest
from dataverse.client import DataverseClient
from dataverse.odata import id_segment, literal
from dataverse.tables import EntitySet


def invoices_covering(dv: DataverseClient, start: date, end: date) -> list[Invoice]:
    """Invoices (with their lines in the window) whose header or any line overlaps start..end."""
    lines: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in dv.list(EntitySet.INVOICE_DETAILS, select=m.LINE_SELECT,
                       filter=f"cspb_periodstart le {end.isoformat()} and cspb_periodend ge {start.isoformat()}"):
        lines[row["_invoiceid_value"]].append(row)
    # Lines with no window of their own (a one-off item) belong to their invoice's cycle.
    undated: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in dv.list(EntitySet.INVOICE_DETAILS, select=m.LINE_SELECT, filter="cspb_periodstart eq null"):
        undated[row["_invoiceid_value"]].append(row)
    out = []
    for row in dv.list(EntitySet.INVOICES, select=m.INVOICE_SELECT):
        inv_start, inv_end = m.to_date(row.get("cspb_periodstart")), m.to_date(row.get("cspb_periodend"))
        header = inv_start is not None and inv_start <= end and (inv_end is None or inv_end >= start)
        own = lines.get(row["invoiceid"], []) + (undated.get(row["invoiceid"], []) if header else [])
        if header or own:
            out.append(m.invoice_from_row(row, own))
    return out


def period_summaries(dv: DataverseClient, period: str, currency: str | None = None) -> list[UsageSummary]:
    flt = f"cspb_period eq {literal(period)}"
    if currency:
        flt += f" and cspb_currencycode eq {literal(currency)}"
    # In key order, not row-id order: the recon findings follow this order, and row ids are random.
    return [m.usage_from_row(r) for r in dv.list(EntitySet.USAGE_SUMMARIES, select=m.USAGE_SELECT, filter=flt,
                                                 orderby="cspb_summarykey")]


def reopen_summaries(dv: DataverseClient, summaries: Iterable[UsageSummary]) -> int:
    requests = [BatchRequest("PATCH", id_segment(EntitySet.USAGE_SUMMARIES, s.id), {"cspb_billed": False},
                             {"If-Match": "*"}) for s in summaries if s.id]
    for i in range(0, len(requests), MAX_BATCH_REQUESTS):
        dv.batch(requests[i:i + MAX_BATCH_REQUESTS], changeset=True)
    return len(requests)
