"""Dataverse Web API client: CRUD, paging, alternate-key upserts, $batch, UpsertMultiple.

Shapes follow https://learn.microsoft.com/power-apps/developer/data-platform/webapi/overview :
- paging: `Prefer: odata.maxpagesize=N`, follow `@odata.nextLink` as given
  (.../webapi/query/page-results);
- create: 204 + `OData-EntityId` header, or 201 + body with `Prefer: return=representation`;
- upsert: PATCH on `set(key='v')`; `If-None-Match: *` blocks the update (412 when the row exists),
  `If-Match: *` blocks the create (404 when it doesn't) (.../webapi/perform-conditional-operations-using-web-api);
- UpsertMultiple: POST `set/Microsoft.Dynamics.CRM.UpsertMultiple` with `{"Targets": [...]}`, each
  target carrying `@odata.type` and `@odata.id` with its alternate key; returns 204
  (.../webapi/reference/upsertmultiple);
- `x-ms-dop-hint` on responses is the parallelism the org recommends (.../send-parallel-requests).
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import requests

from dataverse import batch as batch_codec
from dataverse import odata
from dataverse.batch import MAX_BATCH_REQUESTS, BatchRequest, BatchResponse
from dataverse.errors import DUPLICATE_RECORD, decode_error, error_from_parts, is_missing_row
from shared import throttle
from shared.errors import ConflictError, FatalError, IntegrationError, NotFoundError, ValidationError
from shared.http import HttpClient, RetryPolicy, TokenProvider
from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.config import Settings

log = get_logger(__name__)

UpsertMode = Literal["upsert", "create_only", "update_only"]

# One row as the Web API returns it: column logical name -> JSON value (str, int, float, bool, None;
# lists and objects for expansions). Read rows through dataverse/stores/ and map_billing, which turn
# them into typed records; code outside dataverse/ should not index a Row.
Row = dict[str, Any]
# What a write sends: column -> value (odata.dumps encodes Decimal, date, datetime, UUID, enums).
Columns = Mapping[str, object]

# learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic : CustomAsync
# skips asynchronous plug-in steps and webhooks registered asynchronously (needs the
# prvBypassCustomAsyncBusinessLogic privilege, granted by the CSPBridge Integration role).
BYPASS_HEADER = "MSCRM.BypassBusinessLogicExecution"
BYPASS_CUSTOM_ASYNC = "CustomAsync"

# The org's hint is usually 4-50; more threads than this only queue up behind each other.
MAX_PARALLEL = 16
DEFAULT_MAX_INSTANCES = 3


@dataclass(frozen=True)
class UpsertResult:
    id: str
    created: bool


class DataverseClient:
    def __init__(
        self,
        base_url: str,
        token_provider: TokenProvider | None,
        *,
        page_size: int = 5000,
        http: HttpClient | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        requests_per_second: float | None = None,
    ) -> None:
        org = base_url.rstrip("/")
        if org.endswith("/" + odata.API_PATH):
            org = org[: -len(odata.API_PATH) - 1]
        self.org_url = org
        self.api_url = f"{org}/{odata.API_PATH}"
        self.page_size = page_size
        self.http = http or HttpClient(
            self.api_url,
            token_provider=token_provider,
            default_headers={
                "Accept": "application/json",
                "OData-MaxVersion": "4.0",
                "OData-Version": "4.0",
            },
            error_decoder=decode_error,
            retry=retry,
            timeout=timeout,
            service="dataverse",
        )
        self._dop_lock = threading.Lock()
        self._dop_hint = 1
        # One throttle per process for this org, shared by every client and thread.
        throttle.configure(self.api_url, max_in_flight=throttle.dataverse_in_flight_cap(max_instances),
                           rate=requests_per_second)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> DataverseClient:
        from shared.auth import token_provider_for
        from shared.config import get_settings

        settings = settings or get_settings()
        retry = RetryPolicy(max_attempts=settings.http_max_attempts, cap_seconds=settings.http_backoff_cap_seconds)
        return cls(settings.dataverse_url, token_provider_for(settings, settings.dataverse_url),
                   retry=retry, timeout=settings.http_timeout_seconds, max_instances=settings.max_instances,
                   requests_per_second=settings.dataverse_requests_per_second)

    # ---- plumbing -------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, body: Any = None, headers: Mapping[str, str] | None = None,
              params: Mapping[str, Any] | None = None, ok: Sequence[int] = (200, 201, 204),
              idempotent: bool | None = None) -> requests.Response:
        sent = dict(headers or {})
        data = None
        if body is not None:
            data = odata.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json; charset=utf-8")
        if params:
            encoded = odata.query_string(params)
            if encoded:
                path = f"{path}?{encoded}"
        response = self.http.request(method, path, data=data, headers=sent, ok=ok, idempotent=idempotent)
        self._note_dop(response)
        return response

    def _note_dop(self, response: requests.Response) -> None:
        hint = response.headers.get("x-ms-dop-hint")
        if hint and hint.isdigit():
            with self._dop_lock:
                self._dop_hint = max(1, int(hint))

    @property
    def dop_hint(self) -> int:
        """The last `x-ms-dop-hint` the server sent (1 until one arrives)."""
        return self._dop_hint

    @staticmethod
    def _json(response: requests.Response) -> Any:
        return odata.loads(response.content) if response.content else None

    @staticmethod
    def _select(select: Sequence[str] | str | None) -> str | None:
        if select is None:
            return None
        return select if isinstance(select, str) else ",".join(select)

    # ---- reads ----------------------------------------------------------------------------------

    def get(self, entity_set: str, id: str, select: Sequence[str] | str | None = None) -> Row:
        """Raises NotFoundError when the row does not exist."""
        response = self._send("GET", odata.id_segment(entity_set, id), params={"$select": self._select(select)})
        row: Row = self._json(response)
        return row

    def get_by_key(self, entity_set: str, key: Columns,
                   select: Sequence[str] | str | None = None) -> Row | None:
        """The row with this alternate key, or None. An unknown table or key still raises."""
        try:
            response = self._send("GET", odata.key_segment(entity_set, key), params={"$select": self._select(select)})
        except NotFoundError as exc:
            if is_missing_row(exc):
                return None
            raise
        row: Row | None = self._json(response)
        return row

    def list(
        self,
        entity_set: str,
        *,
        select: Sequence[str] | str | None = None,
        filter: str | None = None,
        orderby: str | None = None,
        top: int | None = None,
        page_size: int | None = None,
    ) -> Iterator[Row]:
        """Lazily yields rows across pages."""
        params = {"$select": self._select(select), "$filter": filter, "$orderby": orderby,
                  "$top": top if top is not None else None}
        headers = {"Prefer": f"odata.maxpagesize={page_size or self.page_size}"}
        path: str | None = entity_set
        seen: set[str] = set()
        first = True
        while path:
            response = self._send("GET", path, headers=headers, params=params if first else None)
            first = False
            page = self._json(response) or {}
            yield from page.get("value", [])
            path = page.get("@odata.nextLink")
            if path:
                if path in seen:
                    raise FatalError(f"Dataverse returned the same nextLink twice for {entity_set}")
                seen.add(path)

    # ---- single-row writes ----------------------------------------------------------------------

    def create(self, entity_set: str, record: Columns, *, id: str | None = None,
               bypass_custom_async: bool = False) -> str:
        """Create a row whose primary key we choose (a new GUID unless `id` is given or the record
        carries its primary key), as a PATCH upsert on that id with `If-None-Match: *`. A retry after
        a lost answer then finds its own row (412) instead of making a second one; because the id is
        ours, that 412 means the earlier attempt committed. Returns the id."""
        row_id = (id or _primary_key_in(entity_set, record) or str(uuid.uuid4())).lower()
        headers = {"If-None-Match": "*"}
        if bypass_custom_async:
            headers[BYPASS_HEADER] = BYPASS_CUSTOM_ASYNC
        try:
            self._send("PATCH", odata.id_segment(entity_set, row_id), body=dict(record), headers=headers)
        except ConflictError as exc:
            # Our id taken means our earlier attempt committed; a clash on an alternate key is someone
            # else's row, and stays a conflict.
            if exc.code not in (DUPLICATE_RECORD, None) or not self._exists(entity_set, row_id):
                raise
            log.info("create on %s: row %s already exists (an earlier attempt committed)", entity_set, row_id)
        return row_id

    def _exists(self, entity_set: str, row_id: str) -> bool:
        try:
            self._send("GET", odata.id_segment(entity_set, row_id), params={"$select": "createdon"})
        except NotFoundError:
            return False
        return True

    def update(self, entity_set: str, id: str, changes: Columns, *, etag: str | None = None) -> None:
        """PATCH by id. `If-Match` is always sent so a PATCH never creates a row by accident
        (Dataverse treats a PATCH on a missing id as an upsert); a stale etag raises ConflictError."""
        self._send("PATCH", odata.id_segment(entity_set, id), body=dict(changes), headers={"If-Match": etag or "*"})

    def delete(self, entity_set: str, id: str, *, etag: str | None = None) -> None:
        headers = {"If-Match": etag} if etag else None
        self._send("DELETE", odata.id_segment(entity_set, id), headers=headers)

    def upsert(self, entity_set: str, key: Columns, record: Columns, *,
               mode: UpsertMode = "upsert") -> UpsertResult:
        """PATCH by alternate key. create_only raises ConflictError if the row exists; update_only
        raises NotFoundError if it doesn't."""
        headers = {"Prefer": "return=representation"}
        if mode == "create_only":
            headers["If-None-Match"] = "*"
        elif mode == "update_only":
            headers["If-Match"] = "*"
        elif mode != "upsert":
            raise ValueError(f"unknown upsert mode {mode!r}")
        response = self._send("PATCH", odata.key_segment(entity_set, key), body=dict(record), headers=headers)
        row_id = odata.id_from_entity_url(response.headers.get("OData-EntityId"))
        if row_id is None:
            raise FatalError(f"upsert on {entity_set} returned no OData-EntityId", status=response.status_code)
        # With return=representation Dataverse answers 201 for a new row and 200 for an update.
        return UpsertResult(row_id, response.status_code == 201)

    # ---- bulk -----------------------------------------------------------------------------------

    def upsert_multiple(self, entity_set: str, logical_name: str, records: builtins.list[dict[str, Any]], *,
                        batch_size: int = 1000, bypass_custom_async: bool = False) -> int:
        """The UpsertMultiple action. Each record needs `@odata.id` (alternate key) or its primary id.
        `bypass_custom_async`: send MSCRM.BypassBusinessLogicExecution: CustomAsync, so asynchronous
        steps (our webhook) do not fire for these writes."""
        total = 0
        headers = {BYPASS_HEADER: BYPASS_CUSTOM_ASYNC} if bypass_custom_async else None
        for chunk in _chunks(records, batch_size):
            # Each target is addressed by its key, so sending the action again writes the same rows.
            self._send("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpsertMultiple",
                       body={"Targets": [_typed(r, logical_name) for r in chunk]}, idempotent=True,
                       headers=headers)
            total += len(chunk)
        return total

    def create_multiple(self, entity_set: str, logical_name: str, records: builtins.list[dict[str, Any]], *,
                        batch_size: int = 1000) -> builtins.list[str]:
        """The CreateMultiple action (create-only: an existing key fails the whole request). Records
        may carry their primary id (client-generated). Returns the created ids. Not resent after a
        lost response (a resend would fail on its own rows); callers re-plan and find them."""
        ids: builtins.list[str] = []
        for chunk in _chunks(records, batch_size):
            response = self._send("POST", f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple",
                                  body={"Targets": [_typed(r, logical_name) for r in chunk]})
            ids.extend(str(i) for i in (self._json(response) or {}).get("Ids", []))
        return ids

    def update_multiple(self, entity_set: str, logical_name: str, records: builtins.list[dict[str, Any]], *,
                        batch_size: int = 1000) -> int:
        """The UpdateMultiple action; every record carries its primary id. Returns records sent."""
        total = 0
        for chunk in _chunks(records, batch_size):
            # Setting the same values by id again is harmless: safe to resend after a lost response.
            self._send("POST", f"{entity_set}/Microsoft.Dynamics.CRM.UpdateMultiple",
                       body={"Targets": [_typed(r, logical_name) for r in chunk]}, idempotent=True)
            total += len(chunk)
        return total

    def batch(self, requests: builtins.list[BatchRequest], *, changeset: bool = True) -> builtins.list[BatchResponse]:
        """One $batch. With changeset=True all writes commit or none do: a failure raises the decoded
        error of the request that failed (details["content_id"]). With changeset=False every request
        runs (continue-on-error) and the caller checks each response's `ok`."""
        if not requests:
            return []
        if changeset and len(requests) > MAX_BATCH_REQUESTS:
            raise ValidationError(f"a changeset holds at most {MAX_BATCH_REQUESTS} requests, got {len(requests)}")
        if not changeset and len(requests) > MAX_BATCH_REQUESTS:
            out: builtins.list[BatchResponse] = []
            for chunk in _chunks(requests, MAX_BATCH_REQUESTS):
                out.extend(self.batch(chunk, changeset=False))
            return out
        api_root = "/" + self.api_url.split("://", 1)[-1].split("/", 1)[1]
        content_type, body = batch_codec.encode(requests, api_root, changeset=changeset)
        headers = {"Content-Type": content_type}
        if not changeset:
            headers["Prefer"] = "odata.continue-on-error"
        # Safe to send again when no part is a POST (reads, key/id-addressed PATCH upserts, deletes).
        response = self.http.request("POST", "$batch", data=body, headers=headers, ok=(200,),
                                     idempotent=all(r.method.upper() != "POST" for r in requests))
        self._note_dop(response)
        responses = batch_codec.decode(response.headers.get("Content-Type", ""), response.content)
        if changeset:
            failed = next((r for r in responses if not r.ok), None)
            if failed is not None:
                error = error_from_parts(failed.status, failed.body, failed.headers)
                error.details["content_id"] = failed.content_id
                raise error
        return responses

    def bulk_upsert(self, entity_set: str, logical_name: str, key_columns: Sequence[str],
                    records: builtins.list[dict[str, Any]], *, batch_size: int = 1000,
                    bypass_custom_async: bool = False) -> int:
        """Upsert many rows by alternate key, in parallel up to the org's `x-ms-dop-hint`.

        Uses UpsertMultiple; if the table doesn't support it, falls back to $batch of PATCH upserts.
        Independent chunks: a failure raises, chunks already sent stay written (each row is idempotent)."""
        if not records:
            return 0
        targets = [_with_key_id(entity_set, key_columns, r) for r in records]
        chunks = list(_chunks(targets, batch_size))
        try:
            self.upsert_multiple(entity_set, logical_name, chunks[0], batch_size=batch_size,
                                 bypass_custom_async=bypass_custom_async)
        except (ValidationError, NotFoundError) as exc:
            if not _multiple_unsupported(exc):
                raise
            log.info("UpsertMultiple not available on %s; using $batch", entity_set)
            return self._batch_upsert(entity_set, key_columns, records, bypass_custom_async=bypass_custom_async)
        done = len(chunks[0])
        rest = chunks[1:]
        if not rest:
            return done
        workers = max(1, min(self.dop_hint, MAX_PARALLEL, len(rest)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dv-bulk") as pool:
            counts = pool.map(lambda c: self.upsert_multiple(entity_set, logical_name, c, batch_size=batch_size,
                                                             bypass_custom_async=bypass_custom_async), rest)
            return done + sum(counts)

    def _batch_upsert(self, entity_set: str, key_columns: Sequence[str], records: builtins.list[dict[str, Any]],
                      *, bypass_custom_async: bool = False) -> int:
        # Dataverse advises small batches for standard tables; 100 keeps each request short.
        extra = {BYPASS_HEADER: BYPASS_CUSTOM_ASYNC} if bypass_custom_async else {}
        reqs = [BatchRequest("PATCH", odata.key_segment(entity_set, {k: r[k] for k in key_columns}),
                             {k: v for k, v in r.items() if k not in key_columns}, headers=dict(extra))
                for r in records]
        chunks = list(_chunks(reqs, 100))
        workers = max(1, min(self.dop_hint, MAX_PARALLEL, len(chunks)))

        def send(chunk: builtins.list[BatchRequest]) -> int:
            responses = self.batch(chunk, changeset=False)
            bad = [r for r in responses if not r.ok]
            if bad:
                raise error_from_parts(bad[0].status, bad[0].body, bad[0].headers)
            return len(responses)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dv-batch") as pool:
            return sum(pool.map(send, chunks))


def _primary_key_in(entity_set: str, record: Columns) -> str | None:
    """The record's own primary key value, if it carries one (`serviceendpointid` on `serviceendpoints`):
    the primary key is the singular table name + "id", and entity sets are that name pluralised."""
    for column, value in record.items():
        if (column.endswith("id") and len(column) > 3 and entity_set.startswith(column[:-3])
                and isinstance(value, str) and odata.is_guid(value)):
            return value
    return None


def client_or_default(dv: DataverseClient | None = None) -> DataverseClient:
    """`dv` when the caller has one (a test's sandbox client, a job's shared client), else a client
    built from settings. Any client with the DataverseClient methods will do."""
    return dv if dv is not None else DataverseClient.from_settings()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    if size < 1:
        raise ValueError("batch size must be positive")
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _typed(record: Mapping[str, Any], logical_name: str) -> dict[str, Any]:
    out = dict(record)
    out.setdefault("@odata.type", f"Microsoft.Dynamics.CRM.{logical_name}")
    return out


def _with_key_id(entity_set: str, key_columns: Sequence[str], record: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in key_columns if record.get(k) is None]
    if missing:
        raise ValidationError(f"record for {entity_set} lacks key column(s) {', '.join(missing)}")
    out = {k: v for k, v in record.items() if k not in key_columns}
    out["@odata.id"] = odata.key_segment(entity_set, {k: record[k] for k in key_columns}, encode=False)
    return out


def _multiple_unsupported(error: IntegrationError) -> bool:
    text = f"{error.message} {error.code or ''}".lower()
    return "upsertmultiple" in text and ("not supported" in text or "does not support" in text
                                         or "not found" in text)
