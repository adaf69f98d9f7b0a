"""The monthly KPI snapshot: the assessment run on the 1st, stored as that day's KPI snapshot row
(history for the trend chart) and as HTML + CSV in Blob Storage. `cspbridge assess` runs the same."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from dataverse.client import DataverseClient
from shared.blobstore import BlobStore

if TYPE_CHECKING:  # the portal package loads only when a snapshot runs
    from portal.assessment import Assessment


def snapshot(as_of: date | None = None, *, dv: DataverseClient | None = None, store: BlobStore | None = None,
             language: str = "en") -> Assessment:
    """Compute and store one snapshot; re-running a day replaces that day's. Returns the Assessment."""
    from dataverse.client import client_or_default
    from portal import assessment
    from portal.assessment_source import DataverseAssessmentSource

    if store is None:
        from shared.blobstore import blob_store_from_settings

        store = blob_store_from_settings()
    day = as_of or datetime.now(UTC).date()
    result = assessment.run(DataverseAssessmentSource(client_or_default(dv), store=store), as_of=day, store=True)
    store.put(f"assessment/{day.isoformat()}/kpis.html", assessment.to_html(result, language).encode("utf-8"),
              content_type="text/html")
    store.put(f"assessment/{day.isoformat()}/kpis.csv", assessment.to_csv(result).encode("utf-8"),
              content_type="text/csv")
    return result
