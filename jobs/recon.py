"""The scheduled recon job (timer and CLI): ingest last month (billed invoices, billed usage, and its
unbilled usage until the invoice exists) and this month's unbilled usage, then store last month's
report. One sync run row (kind "recon") per run. The recon timer and `cspbridge recon run` call it."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from dataverse.client import DataverseClient
from recon.ingest import IngestOutcome, ingest_period
from recon.run import build_report
from shared.blobstore import BlobStore
from shared.errors import IntegrationError


def periods_for(today: date) -> tuple[str, str]:
    """(last month, this month) as YYYY-MM."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.strftime("%Y-%m"), today.strftime("%Y-%m")


def scheduled(today: date, *, dv: DataverseClient | None = None, store: BlobStore | None = None,
              pc: Any = None) -> list[IngestOutcome]:
    from dataverse.client import client_or_default
    from sync import runs as syncruns

    dv = client_or_default(dv)
    if store is None:
        from shared.blobstore import blob_store_from_settings

        store = blob_store_from_settings()
    record = syncruns.start(dv, "recon", f"recon:{today.isoformat()}:{uuid.uuid4().hex[:8]}")
    outcomes: list[IngestOutcome] = []
    try:
        for period in periods_for(today):
            outcome = ingest_period(period, store=store, dv=dv, pc=pc, today=today)
            outcomes.append(outcome)
            record.bump("files", len(outcome.files))
            record.bump("usageSummaries", outcome.usage_summaries)
            record.bump("rowsRead", sum(f.rows_read for f in outcome.files))
            record.bump("rowsQuarantined", sum(f.rows_quarantined for f in outcome.files))
            # Summaries invoiced on figures Microsoft has since revised: the next bill run trues them up.
            record.bump("usageReopened", len(outcome.reopened))
            for failed in outcome.failed:
                record.error(f"{period} {failed.kind} {failed.currency}: {failed.error}")
        last = outcomes[0]
        # usage=[]: the report reads the period's usage summaries the ingest just wrote to Dynamics
        # (billed, else unbilled), so the timer and `recon run` report the same thing, usage included.
        result, _paths = build_report(last.period, provider_lines=last.provider_lines, usage=[], store=store, dv=dv,
                                      provider_invoices=last.invoice_totals)
        record.bump("findings", len(result.findings))
    except IntegrationError as exc:
        record.error(str(exc))
        syncruns.finish(record, failed=True)
        raise
    syncruns.finish(record)
    return outcomes
