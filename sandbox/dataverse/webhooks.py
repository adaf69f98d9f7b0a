"""Webhook delivery: after a write commits, POST a RemoteExecutionContext to every service
endpoint whose step matches (message + table), on a background thread, as an asynchronous step
(stage 40, mode 1) would. Shape per the documented sample:
https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks
Service endpoint auth (serviceendpoint.authtype): 4 WebhookKey -> `?code=<key>`,
5 HttpHeader / 6 HttpQueryString -> `<settings><setting name=".." value=".."/></settings>`.
The sandbox sends both images on every step (a real step needs them registered).
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests

from sandbox.dataverse.schema import TableDef
from sandbox.dataverse.values import dumps, parse_datetime

CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"
ORG_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cspbridge-sandbox-org"))
USER_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cspbridge-sandbox-user"))
BUSINESS_UNIT_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "cspbridge-sandbox-bu"))
ORG_NAME = "cspbsandbox"


@dataclass
class Event:
    message: str                    # Create | Update | Delete
    table: TableDef
    row_id: str
    pre: dict[str, Any] | None      # stored row before (Update/Delete)
    post: dict[str, Any] | None     # stored row after (Create/Update)
    changed: list[str] = field(default_factory=list)


@dataclass
class Delivery:
    url: str
    status: int | None
    message: str
    entity: str
    record_id: str
    attempts: int
    error: str | None = None


def _date(value: str) -> str:
    millis = int(parse_datetime(value).timestamp() * 1000)
    return f"/Date({millis})/"


def _value(table: TableDef, column: str, stored: Any) -> Any:
    kind = table.columns.get(column)
    if stored is None:
        return None
    if kind == "money":
        return {"__type": f"Money:{CONTRACTS}", "Value": Decimal(stored)}
    if kind == "picklist":
        return {"__type": f"OptionSetValue:{CONTRACTS}", "Value": stored}
    if kind == "lookup":
        return {"__type": f"EntityReference:{CONTRACTS}", "Id": stored["id"], "KeyAttributes": [],
                "LogicalName": stored["table"], "Name": None, "RowVersion": None}
    if kind == "decimal":
        return Decimal(stored)
    if kind in ("datetime", "date"):
        return _date(stored)
    return stored


def entity(table: TableDef, row_id: str, data: dict[str, Any], columns: list[str] | None = None) -> dict[str, Any]:
    cols = [c for c in (columns if columns is not None else list(data)) if c in data]
    attrs = [{"key": c, "value": _value(table, c, data[c])} for c in cols if c not in ("versionnumber",)]
    attrs.append({"key": table.primary_id, "value": row_id})
    return {"__type": f"Entity:{CONTRACTS}", "Attributes": attrs, "EntityState": None, "FormattedValues": [],
            "Id": row_id, "KeyAttributes": [], "LogicalName": table.logical_name, "RelatedEntities": [],
            "RowVersion": str(data.get("versionnumber")) if data.get("versionnumber") else None}


def remote_execution_context(event: Event, step_id: str, step_name: str) -> dict[str, Any]:
    t = event.table
    if event.message == "Delete":
        target: dict[str, Any] = {"__type": f"EntityReference:{CONTRACTS}", "Id": event.row_id, "KeyAttributes": [],
                                  "LogicalName": t.logical_name, "Name": None, "RowVersion": None}
    elif event.message == "Create":
        target = entity(t, event.row_id, event.post or {})
    else:
        target = entity(t, event.row_id, event.post or {}, event.changed)
    pre = [{"key": "PreImage", "value": entity(t, event.row_id, event.pre)}] if event.pre is not None else []
    post = [{"key": "PostImage", "value": entity(t, event.row_id, event.post)}] if event.post is not None else []
    outputs = [{"key": "id", "value": event.row_id}] if event.message == "Create" else []
    return {
        "BusinessUnitId": BUSINESS_UNIT_ID,
        "CorrelationId": str(uuid.uuid4()),
        "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "InitiatingUserId": USER_ID,
        "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": event.message,
        "Mode": 1,
        "OperationCreatedOn": _date(datetime.now(UTC).isoformat()),
        "OperationId": str(uuid.uuid4()),
        "OrganizationId": ORG_ID,
        "OrganizationName": ORG_NAME,
        "OutputParameters": outputs,
        "OwningExtension": {"Id": step_id, "KeyAttributes": [], "LogicalName": "sdkmessageprocessingstep",
                            "Name": step_name, "RowVersion": None},
        "ParentContext": None,
        "PostEntityImages": post,
        "PreEntityImages": pre,
        "PrimaryEntityId": event.row_id,
        "PrimaryEntityName": t.logical_name,
        "RequestId": str(uuid.uuid4()),
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "UserId": USER_ID,
    }


def auth_settings(authvalue: str | None) -> dict[str, str]:
    if not authvalue:
        return {}
    try:
        root = ET.fromstring(authvalue)
    except ET.ParseError:
        return {}
    return {s.get("name", ""): s.get("value", "") for s in root.iter("setting") if s.get("name")}


class Dispatcher:
    """One worker thread; `wait()` lets tests block until queued deliveries are done."""

    def __init__(self, max_attempts: int = 3, retry_delay: float = 0.2, timeout: float = 10.0) -> None:
        self.deliveries: list[Delivery] = []
        self._queue: queue.Queue[tuple[str, dict[str, str], dict[str, Any]] | None] = queue.Queue()
        self.max_attempts = max_attempts
        self.retry_delay = retry_delay
        self.timeout = timeout
        self._thread = threading.Thread(target=self._run, name="dv-webhooks", daemon=True)
        self._thread.start()

    def enqueue(self, endpoint: dict[str, Any], context: dict[str, Any]) -> None:
        url = endpoint.get("url") or ""
        headers = {"Content-Type": "application/json"}
        authtype = endpoint.get("authtype")
        settings = auth_settings(endpoint.get("authvalue"))
        if authtype == 4 and endpoint.get("authvalue"):
            url += ("&" if "?" in url else "?") + urlencode({"code": endpoint["authvalue"]})
        elif authtype == 5:
            headers.update(settings)
        elif authtype == 6 and settings:
            url += ("&" if "?" in url else "?") + urlencode(settings)
        self._queue.put((url, headers, context))

    def wait(self, timeout: float = 10.0) -> bool:
        """True when everything queued so far was delivered (or gave up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._queue.task_done()
                return
            try:
                self._deliver(*item)
            finally:
                self._queue.task_done()

    def _deliver(self, url: str, headers: dict[str, str], context: dict[str, Any]) -> None:
        body = dumps(context).encode()
        status, error, attempt = None, None, 0
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = requests.post(url, data=body, headers=headers, timeout=self.timeout)
                status, error = response.status_code, None
                if status < 500 and status != 429:
                    break
            except requests.RequestException as exc:
                status, error = None, type(exc).__name__
            if attempt < self.max_attempts:
                time.sleep(self.retry_delay * attempt)
        self.deliveries.append(Delivery(url.split("?")[0], status, context["MessageName"],
                                        context["PrimaryEntityName"], context["PrimaryEntityId"], attempt, error))

    def close(self) -> None:
        self._queue.put(None)
