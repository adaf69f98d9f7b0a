"""The scheduled-changes run: every change log whose effective date has come is provisioned now.

A rep dates a change log in the future; the webhook worker leaves it Awaiting ("Scheduled") and this
run, on a timer (CSPB_SCHEDULED_CHANGES_SCHEDULE, hourly by default), sends it through the same
provisioning path as any other change (sync/provisioning.process_change), so the rules, the
exactly-once sends and the write-backs are the same. A change the provider cannot take yet
(throttled, unreachable) stays Awaiting and is tried at the next run; nothing is lost.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from dataverse.client import DataverseClient
from distributors.base import Adapters
from shared.errors import RetriableError
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass
class Report:
    due: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    retry_later: list[str] = field(default_factory=list)


def run(now: datetime, *, dv: DataverseClient | None = None, adapters: Adapters | None = None) -> Report:
    from dataverse.client import client_or_default
    from dataverse.scheduled_changes import due_change_logs
    from sync import provisioning

    dv = client_or_default(dv)
    adapters = provisioning.default_adapters() if adapters is None else adapters
    report = Report()
    for changelog_id in due_change_logs(dv, now):
        report.due += 1
        try:
            outcome = provisioning.process_change(changelog_id, dv=dv, adapters=adapters, now=now)
        except RetriableError as exc:
            log.warning("scheduled change %s: %s; tried again at the next run", changelog_id, exc.message)
            report.retry_later.append(changelog_id)
            continue
        report.outcomes[outcome.status] += 1
    return report
