"""What the timer runs that provision change logs share (jobs/scheduled_changes.py, jobs/trials.py):
each change goes through the one provisioning path (sync/provisioning.process_change), its outcome is
counted, and a change the provider cannot take yet (throttled, unreachable: RetriableError) is left
as it is for the next run. Nothing is lost and nothing is sent twice: the path is exactly-once."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from dataverse.client import DataverseClient
from distributors.base import Adapters
from shared.errors import RetriableError
from shared.logging import get_logger

if TYPE_CHECKING:
    from sync.provisioning import Outcome

log = get_logger(__name__)


@dataclass
class DueRun:
    outcomes: Counter[str] = field(default_factory=Counter)
    retry_later: list[str] = field(default_factory=list)

    def provision(self, changelog_id: str, *, key: str, what: str, dv: DataverseClient, adapters: Adapters,
                  now: datetime) -> Outcome | None:
        """The provisioning outcome, or None when the provider asked to be tried later (then `key`,
        what the report names, joins retry_later)."""
        from sync import provisioning

        try:
            return provisioning.process_change(changelog_id, dv=dv, adapters=adapters, now=now)
        except RetriableError as exc:
            log.warning("%s %s: %s; tried again at the next run", what, key, exc.message)
            self.retry_later.append(key)
            return None


def adapters_or_default(adapters: Adapters | None) -> Adapters:
    from sync import provisioning

    return provisioning.default_adapters() if adapters is None else adapters
