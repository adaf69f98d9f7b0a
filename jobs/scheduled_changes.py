"""The scheduled-changes run: every change log whose effective date has come is provisioned now.

A rep dates a change log in the future; the webhook worker leaves it Awaiting ("Scheduled") and this
run, on a timer (CSPB_SCHEDULED_CHANGES_SCHEDULE, hourly by default), sends it through the same
provisioning path as any other change (sync/provisioning.process_change), so the rules, the
exactly-once sends and the write-backs are the same. A change the provider cannot take yet
(throttled, unreachable) stays Awaiting and is tried at the next run; nothing is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dataverse.client import DataverseClient
from distributors.base import Adapters
from jobs.provision_due import DueRun, adapters_or_default


@dataclass
class Report(DueRun):
    due: int = 0


def run(now: datetime, *, dv: DataverseClient | None = None, adapters: Adapters | None = None) -> Report:
    from dataverse.client import client_or_default
    from dataverse.scheduled_changes import due_change_logs

    dv = client_or_default(dv)
    adapters = adapters_or_default(adapters)
    report = Report()
    for changelog_id in due_change_logs(dv, now):
        report.due += 1
        outcome = report.provision(changelog_id, key=changelog_id, what="scheduled change", dv=dv, adapters=adapters,
                                   now=now)
        if outcome is not None:
            report.outcomes[outcome.status] += 1
    return report
