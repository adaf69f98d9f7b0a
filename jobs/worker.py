"""The provisioning queue's consumer: Dataverse webhook deliveries go to the provisioning worker, and
action requests from the form commands to jobs.actions. The trigger and the inbox replay both come here."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import Table
from distributors.base import Adapters
from sync.provisioning import Outcome


def handle(body: Mapping[str, Any], *, dv: DataverseClient | None = None, adapters: Adapters | None = None,
           now: datetime | None = None, delivery_count: int | None = None,
           max_attempts: int | None = None) -> Outcome | None:
    from sync import provisioning

    if body.get("entity") != Table.ACTION_REQUEST:
        return provisioning.handle_message(body, dv=dv, adapters=adapters, now=now, delivery_count=delivery_count,
                                           max_attempts=max_attempts)
    from dataverse.client import client_or_default
    from jobs import actions
    from sync import inbox

    dv = client_or_default(dv)
    adapters = adapters if adapters is not None else provisioning.default_adapters()
    inbox_id = body.get("inboxId")
    inbox.begin_attempt(dv, inbox_id)
    status = actions.run(dv, str(body.get("recordId") or ""), adapters=adapters,
                         provision=provisioning.process_change, now=now)
    inbox.mark(dv, inbox_id, inbox.InboxStatus.PROCESSED, f"action request {status}")
    return None
