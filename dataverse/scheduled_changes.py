"""Which license change logs are due: Awaiting, with an effective date on or before a moment.

Column names stay here (and in solution/); jobs/scheduled_changes.py calls this typed helper."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.models import ProvisioningStatus
from dataverse.client import DataverseClient
from dataverse.tables import EntitySet


def due_change_logs(dv: DataverseClient, now: datetime) -> list[str]:
    """Ids of change logs still Awaiting whose effective date has come, oldest date first."""
    when = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    rows = list(dv.list(EntitySet.LICENSE_CHANGE_LOGS, select=["cspb_licensechangelogid", "cspb_effectivedate"],
                   filter=f"cspb_provisioningstatus eq {int(ProvisioningStatus.AWAITING)} and "
                          f"cspb_effectivedate le {when}"))
    rows.sort(key=lambda r: str(r.get("cspb_effectivedate") or ""))
    return [r["cspb_licensechangelogid"] for r in rows]
