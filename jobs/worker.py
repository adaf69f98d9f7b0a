"""The provisioning queue's consumer: Dataverse webhook deliveries go to the provisioning worker, and
action requests from the form commands to jobs.actions. The trigger and the inbox replay both come here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dataverse.client import DataverseClient
from dataverse.tables import Table
from distributors.base import Adapters
from sync.provisioning import Outcome


def handle(body: Mapping[str, Any], *, dv: DataverseClient | None = None, adapters: Adapters | None = None,
           **kwargs: Any) -> Outcome | None:
    from sync import provisioning

    if body.get("entity") != Table.ACTION_REQUEST:
        return provisioning.handle_message(body, dv=dv, adapters=adapters, **kwargs)
    from dataverse.client import client_or_default
    from jobs import actions
    from sync import inbox

    dv = client_or_default(dv)
    adapters = adapters if adapters is not None else provisioning.default_adapters()
    inbox_id = body.get("inboxId")
    inbox.begin_attempt(dv, inbox_id)
    status = actions.run(dv, str(body.get("recordId") or ""), adapters=adapters,
                         provision=provisioning.process_change, now=kwargs.get("now"))
    inbox.mark(dv, inbox_id, inbox.InboxStatus.PROCESSED, f"action request {status}")
    return None
