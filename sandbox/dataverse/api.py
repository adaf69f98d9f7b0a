"""The Dataverse Web API semantics, independent of HTTP plumbing so $batch parts run through the
same code as top-level requests. `Api.dispatch` takes a parsed request and returns a Result."""

from __future__ import annotations

import builtins
import json
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from sandbox.dataverse import metadata
from sandbox.dataverse.filter import FilterError, compile_filter, tokenize
from sandbox.dataverse.schema import MESSAGE_IDS, READ_ONLY, TableDef
from sandbox.dataverse.store import DuplicateKey, Store
from sandbox.dataverse.values import GUID_RE, BadValue, coerce, format_datetime, typed, wire
from sandbox.dataverse.webhooks import (
    BUSINESS_UNIT_ID,
    ORG_ID,
    USER_ID,
    Dispatcher,
    Event,
    remote_execution_context,
)

API_PREFIX = "/api/data/v9.2/"
MAX_PAGE = 5000
ACTIONS = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple")


class ODataError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Result:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Req:
    method: str
    path: str                     # after /api/data/v9.2/, still percent-encoded
    query: dict[str, str]
    headers: dict[str, str]       # lower-cased names
    body: bytes = b""
    base_url: str = ""            # http://host:port/api/data/v9.2/


def bad_request(message: str, code: str = "0x80060888") -> ODataError:
    return ODataError(400, code, message)


# sdkmessageprocessingstep.mode: 0 synchronous, 1 asynchronous.
STEP_MODES = {0: "CustomSync", 1: "CustomAsync"}


def bypass_modes(headers: dict[str, str]) -> frozenset[str]:
    raw = headers.get("mscrm.bypassbusinesslogicexecution", "")
    modes = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(m for m in modes if m not in STEP_MODES.values())
    if unknown:
        raise bad_request(f"MSCRM.BypassBusinessLogicExecution: {', '.join(unknown)} is not one of CustomSync, "
                          "CustomAsync", "0x80040203")
    if headers.get("mscrm.bypasscustompluginexecution", "").strip().lower() == "true":
        modes.add("CustomSync")
    return frozenset(modes)


def prefer(headers: dict[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in headers.get("prefer", "").split(","):
        name, _, value = item.strip().partition("=")
        if name:
            out[name.strip().lower()] = value.strip().strip('"')
    return out


def split_path(path: str) -> tuple[str, str | None, str]:
    """`accounts(name='a(b)')/Microsoft.Dynamics.CRM.X` -> ("accounts", "name='a(b)'", "Microsoft...")."""
    depth, in_quote, open_at = 0, False, -1
    for i, ch in enumerate(path):
        if ch == "'" :
            in_quote = not in_quote
        elif in_quote:
            continue
        elif ch == "(":
            if depth == 0 and open_at < 0:
                open_at = i
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                rest = path[i + 1:].lstrip("/")
                return unquote(path[:open_at]), unquote(path[open_at + 1:i]), rest
        elif ch == "/" and depth == 0:
            return unquote(path[:i]), None, path[i + 1:]
    if depth:
        raise bad_request(f"Bad Request - Error in query syntax: unbalanced parentheses in '{path}'.")
    return unquote(path), None, ""


class Api:
    def __init__(self, tables: dict[str, TableDef], store: Store) -> None:
        self.tables = tables
        self.by_set = {t.entity_set.lower(): t for t in tables.values()}
        self.store = store
        self.webhooks = Dispatcher()
        self.dop_hint = 4
        # The security roles of the application user the WhoAmI caller is (what `cspbridge doctor` checks).
        self.app_user_roles: list[str] = ["CSPBridge Integration"]
        # Logical names whose UpsertMultiple/CreateMultiple answer "not supported" (tests the fallback).
        self.multiple_unsupported: set[str] = set()
        self.stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._local = threading.local()  # the current request's bypass modes
        self._list_cache: dict[tuple[str, str], tuple[int, builtins.list[Any]]] = {}
        self._seed_messages()

    # ---- setup ---------------------------------------------------------------------------------

    def _seed_messages(self) -> None:
        with self.store.transaction():
            for name, mid in MESSAGE_IDS.items():
                if self.store.get("sdkmessage", mid) is None:
                    self.store.put("sdkmessage", mid, {"name": name, "createdon": _now(), "modifiedon": _now()}, {})
            for table in self.tables.values():
                for name, mid in MESSAGE_IDS.items():
                    fid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sdkmessagefilter/{name}/{table.logical_name}"))
                    if self.store.get("sdkmessagefilter", fid) is None:
                        self.store.put("sdkmessagefilter", fid, {
                            "sdkmessageid": {"id": mid, "table": "sdkmessage"},
                            "primaryobjecttypecode": table.logical_name, "createdon": _now(), "modifiedon": _now()}, {})

    def count(self, what: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[what] += n

    # ---- entry ---------------------------------------------------------------------------------

    def dispatch(self, req: Req, refs: dict[str, str] | None = None) -> Result:
        try:
            with self.bypassing(req.headers):
                return self._route(req, refs if refs is not None else {})
        except ODataError as exc:
            return Result(exc.status, {"error": {"code": exc.code, "message": exc.message}})

    @contextmanager
    def bypassing(self, headers: dict[str, str]) -> Iterator[None]:
        """The request's `MSCRM.BypassBusinessLogicExecution` (CustomSync, CustomAsync or both) and the
        legacy `MSCRM.BypassCustomPluginExecution: true` (sync only), for the writes it makes:
        https://learn.microsoft.com/power-apps/developer/data-platform/bypass-custom-business-logic"""
        before: frozenset[str] = getattr(self._local, "bypass", frozenset())
        self._local.bypass = before | bypass_modes(headers)
        try:
            yield
        finally:
            self._local.bypass = before

    def _route(self, req: Req, refs: dict[str, str]) -> Result:
        path = req.path
        if path.startswith("$") and refs:
            ref, _, tail = path.partition("/")
            if ref[1:] in refs:
                path = refs[ref[1:]] + ("/" + tail if tail else "")
        head, spec, rest = split_path(path)
        if head in ("WhoAmI", "WhoAmI()"):
            return Result(200, {"@odata.context": f"{req.base_url}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
                                "BusinessUnitId": BUSINESS_UNIT_ID, "UserId": USER_ID, "OrganizationId": ORG_ID})
        if head == "EntityDefinitions":
            self.count("GET metadata")
            try:
                return Result(200, metadata.handle(self.tables, req.method, spec, rest, req.query, req.base_url))
            except metadata.MetadataError as exc:
                raise ODataError(exc.status, "0x80060888", exc.message) from exc
        if head == "systemusers" and spec is not None and spec.strip("'") == USER_ID and not rest:
            # The calling application user, with its roles ($expand=systemuserroles_association).
            return Result(200, {"@odata.context": f"{req.base_url}$metadata#systemusers/$entity",
                                "systemuserid": USER_ID, "fullname": "# CSPBridge", "isdisabled": False,
                                "applicationid": "5e0e4a77-0000-4000-8000-00000000a001",
                                "systemuserroles_association": [
                                    {"roleid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"role:{name}")), "name": name}
                                    for name in self.app_user_roles]})
        table = self.table_for_set(head)
        method = req.method.upper()
        if spec is None and rest:
            action = rest.removeprefix("Microsoft.Dynamics.CRM.")
            if method == "POST" and action in ACTIONS:
                self.count(f"POST {action}")
                return self.multiple(table, action, req, refs)
            raise ODataError(404, "0x80060888", f"Resource not found for the segment '{rest}'.")
        if rest:
            raise ODataError(404, "0x80060888", f"Resource not found for the segment '{rest}'.")
        if spec is None:
            if method == "GET":
                self.count("GET list")
                return self.list(table, req)
            if method == "POST":
                self.count("POST create")
                return self.create(table, req, refs)
            raise ODataError(405, "0x80060888", f"{method} is not supported on a collection.")
        if method == "GET":
            self.count("GET row")
            return self.get(table, spec, req)
        if method == "PATCH":
            self.count("PATCH row")
            return self.patch(table, spec, req, refs)
        if method == "DELETE":
            self.count("DELETE row")
            return self.delete(table, spec, req)
        raise ODataError(405, "0x80060888", f"{method} is not supported on a single record.")

    # ---- naming --------------------------------------------------------------------------------

    def table_for_set(self, entity_set: str) -> TableDef:
        table = self.by_set.get(entity_set.lower())
        if table is None:
            raise ODataError(404, "0x80060888", f"Resource not found for the segment '{entity_set}'.")
        return table

    def parse_spec(self, table: TableDef, spec: str) -> tuple[str | None, dict[str, Any] | None]:
        """(row id or None, key values or None). A GUID alone addresses the primary key."""
        text = spec.strip()
        if GUID_RE.fullmatch(text):
            return text.lower(), None
        values: dict[str, Any] = {}
        try:
            tokens = tokenize(text)
        except FilterError as exc:
            raise bad_request(str(exc)) from exc
        i = 0
        while i < len(tokens):
            chunk = tokens[i:i + 3]
            if len(chunk) != 3 or chunk[0][0] != "name" or chunk[1] != ("punct", "=") or chunk[2][0] != "lit":
                raise bad_request(f"Bad key syntax '{spec}'.")
            values[chunk[0][1].lower()] = chunk[2][1]
            i += 3
            if i < len(tokens):
                if tokens[i] != ("punct", ","):
                    raise bad_request(f"Bad key syntax '{spec}'.")
                i += 1
        return None, values

    def key_lookup(self, table: TableDef, values: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """Finds the row for alternate-key values; returns (id or None, stored key column values)."""
        cols = tuple(sorted(values))
        for keyname, key_cols in table.keys:
            if tuple(sorted(key_cols)) == cols:
                stored = {c: self.coerce(table, c, _plain(values[c])) for c in key_cols}
                row_id = self.store.find_key(table.logical_name, keyname, key_value([stored[c] for c in key_cols]))
                return row_id, stored
        if len(values) == 1 and table.primary_id in values:
            return str(values[table.primary_id]).lower(), {}
        raise bad_request(f"The key specified for {table.logical_name} ({', '.join(cols)}) is not a valid alternate key.",
                          "0x80060892")

    def coerce(self, table: TableDef, column: str, value: Any) -> Any:
        kind = table.columns.get(column)
        if kind is None:
            raise bad_request(str(table.unknown(column).args[0]))
        try:
            return coerce(kind, value, column)
        except BadValue as exc:
            raise bad_request(str(exc), "0x80048d19") from exc

    def resolve_ref(self, value: str, refs: dict[str, str]) -> tuple[TableDef, str]:
        """`/accounts(<guid>)`, `accounts(key='x')`, an absolute URL, or `$1` -> (table, id)."""
        text = str(value)
        if API_PREFIX in text:
            text = text.split(API_PREFIX, 1)[1]
        text = text.lstrip("/")
        if text.startswith("$") and text[1:] in refs:
            text = refs[text[1:]]
        head, spec, _ = split_path(text)
        if spec is None:
            raise bad_request(f"'{value}' does not address a record.")
        table = self.table_for_set(head)
        row_id, values = self.parse_spec(table, spec)
        if row_id is None:
            row_id, _ = self.key_lookup(table, values or {})
        if row_id is None or self.store.get(table.logical_name, row_id) is None:
            raise ODataError(404, "0x80040217", f"{table.logical_name} With Id = {row_id or spec} Does Not Exist")
        return table, row_id

    # ---- bodies --------------------------------------------------------------------------------

    def changes_from(self, table: TableDef, body: Any, refs: dict[str, str]) -> tuple[dict[str, Any], str | None]:
        """Request body -> (stored changes, primary id if the body set one)."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a JSON object.", "0x80048d19")
        changes: dict[str, Any] = {}
        row_id = None
        for name, value in body.items():
            low = name.lower()
            if low.endswith("@odata.bind"):
                column, explicit = table.nav_column(name[: -len("@odata.bind")]) if _nav_ok(table, name) else (None, None)
                if column is None:
                    raise bad_request(str(table.unknown(name[: -len("@odata.bind")]).args[0]))
                if value is None:
                    changes[column] = None
                    continue
                target, target_id = self.resolve_ref(value, refs)
                allowed = table.targets.get(column) or ()
                if (allowed and target.logical_name not in allowed) or (explicit and explicit != target.logical_name):
                    raise bad_request(f"'{name}' cannot point at a {target.logical_name}.", "0x80048d19")
                changes[column] = {"id": target_id, "table": target.logical_name}
            elif low.startswith("@odata.") or "@" in low:
                continue  # annotations (@odata.type, @odata.etag, ...) carry no column data
            elif low == table.primary_id:
                if value is not None:
                    row_id = self.coerce_guid(table, value)
            elif low.startswith("_") and low.endswith("_value"):
                raise bad_request(f"'{name}' is read-only; set the lookup with '{low[1:-6]}@odata.bind'.", "0x80048d19")
            elif table.columns.get(low) == "lookup":
                raise bad_request(f"Lookup '{name}' must be written as '{name}@odata.bind'.", "0x80048d19")
            elif low in READ_ONLY:
                continue
            else:
                changes[low] = self.coerce(table, low, value)
        return changes, row_id

    @staticmethod
    def coerce_guid(table: TableDef, value: Any) -> str:
        if not isinstance(value, str) or not GUID_RE.fullmatch(value):
            raise bad_request(f"'{value}' is not a valid value for {table.primary_id}.", "0x80048d19")
        return value.lower()

    def represent(self, table: TableDef, row_id: str, version: int, data: dict[str, Any],
                  select: builtins.list[str] | None, base_url: str) -> dict[str, Any]:
        out: dict[str, Any] = {"@odata.etag": f'W/"{version}"'}
        names = select if select is not None else list(table.columns)
        for name in names:
            low = name.lower()
            if low == table.primary_id:
                continue
            column = low[1:-6] if low.startswith("_") and low.endswith("_value") and low[1:-6] in table.columns else low
            kind = table.columns[column]
            if column == "versionnumber":
                out["versionnumber"] = version
            elif kind == "lookup":
                ref = data.get(column)
                out[f"_{column}_value"] = ref["id"] if ref else None
            else:
                out[column] = wire(kind, data.get(column))
        out[table.primary_id] = row_id
        return out

    def filter_view(self, table: TableDef, row_id: str, version: int, data: dict[str, Any]) -> dict[str, Any]:
        view: dict[str, Any] = {table.primary_id: row_id, "versionnumber": version}
        for column, kind in table.columns.items():
            value = data.get(column)
            if kind == "lookup":
                view[f"_{column}_value"] = value["id"] if value else None
            elif column != "versionnumber":
                view[column] = value
        return view

    def key_values(self, table: TableDef, data: dict[str, Any]) -> dict[str, str]:
        keys = {}
        for keyname, cols in table.keys:
            values = [data.get(c) for c in cols]
            if all(v is not None for v in values):
                keys[keyname] = key_value(values)
        return keys

    # ---- reads ---------------------------------------------------------------------------------

    def select_of(self, table: TableDef, req: Req) -> builtins.list[str] | None:
        raw = req.query.get("$select")
        if not raw:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for n in names:
            try:
                table.read_kind(n)
            except KeyError as exc:
                raise bad_request(str(exc.args[0])) from exc
        return names

    def get(self, table: TableDef, spec: str, req: Req) -> Result:
        row_id, values = self.parse_spec(table, spec)
        if row_id is None:
            row_id, _ = self.key_lookup(table, values or {})
            if row_id is None:
                raise ODataError(404, "0x80040217",
                                 f"A record with the specified key values does not exist in {table.logical_name} entity")
        found = self.store.get(table.logical_name, row_id)
        if found is None:
            raise ODataError(404, "0x80040217", f"{table.logical_name} With Id = {row_id} Does Not Exist")
        version, data = found
        etag = f'W/"{version}"'
        if req.headers.get("if-none-match") == etag:
            return Result(304)
        body = self.represent(table, row_id, version, data, self.select_of(table, req), req.base_url)
        self.expand_into(table, [(body, data)], self.expand_of(table, req), req.base_url)
        body = {"@odata.context": f"{req.base_url}$metadata#{table.entity_set}/$entity", **body}
        return Result(200, body, {"ETag": etag})

    def _filtered(self, table: TableDef, flt: str | None) -> builtins.list[tuple[str, int, dict[str, Any], dict[str, Any]]]:
        """The table's rows matching `flt`, in id order. Following a query's nextLinks re-asks for the
        same rows page after page: while nothing was written in between, the last result is reused,
        so paging a 700,000-row table costs one scan, not one per page."""
        key = (table.logical_name, flt or "")
        with self._stats_lock:
            cached = self._list_cache.get(key)
            if cached is not None and cached[0] == self.store.generation:
                return cached[1]
        generation = self.store.generation
        rows = self.store.scan(table.logical_name, _required_guid(flt) or _any_lookup_guids(flt))
        views = [(rid, ver, data, self.filter_view(table, rid, ver, data)) for rid, ver, data in rows]
        if flt:
            def resolve(name: str) -> str:
                if "/" in name:
                    nav, _, column = name.partition("/")
                    return self._nav_target(table, nav).read_kind(column)
                return table.read_kind(name)
            try:
                pred = compile_filter(flt, resolve, lambda name: self._related_getter(table, name))
                views = [v for v in views if pred(v[3])]
            except FilterError as exc:
                raise bad_request(str(exc)) from exc
        views.sort(key=lambda v: v[0])
        with self._stats_lock:
            self._list_cache.clear()  # one query's rows at a time: the sandbox stays small in memory
            self._list_cache[key] = (generation, views)
        return views

    def expand_of(self, table: TableDef, req: Req) -> builtins.list[tuple[str, TableDef, builtins.list[str] | None]]:
        """`$expand=productid($select=name),uomid` -> (navigation, target table, select). Only
        single-valued navigation properties (lookups); the sandbox answers 400 for the rest."""
        raw = (req.query.get("$expand") or "").strip()
        if not raw:
            return []
        items, depth, start = [], 0, 0
        for n, ch in enumerate(raw + ","):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
            elif ch == "," and depth == 0:
                items.append(raw[start:n].strip())
                start = n + 1
        out = []
        for item in filter(None, items):
            nav, _, options = item.partition("(")
            nav = nav.strip()
            try:
                target = self._nav_target(table, nav)
            except KeyError as exc:
                raise bad_request(str(exc.args[0])) from exc
            select: builtins.list[str] | None = None
            for option in filter(None, (o.strip() for o in options.rstrip(")").split(";"))):
                name, _, value = option.partition("=")
                if name.strip().lower() != "$select":
                    raise bad_request(f"The sandbox expands with $select only, not '{option}'.")
                select = [c.strip() for c in value.split(",") if c.strip()]
                for c in select:
                    try:
                        target.read_kind(c)
                    except KeyError as exc:
                        raise bad_request(str(exc.args[0])) from exc
            out.append((nav, target, select))
        return out

    def expand_into(self, table: TableDef, rows: builtins.list[tuple[dict[str, Any], dict[str, Any]]],
                    expand: builtins.list[tuple[str, TableDef, builtins.list[str] | None]], base_url: str) -> None:
        """Adds each expanded lookup's row (or null) under the navigation property's name."""
        for nav, target, select in expand:
            lookup, _ = table.nav_column(nav)
            seen: dict[str, dict[str, Any] | None] = {}
            for out, data in rows:
                ref = data.get(lookup)
                related_id = ref["id"] if ref else None
                if related_id and related_id not in seen:
                    found = self.store.get(target.logical_name, related_id)
                    seen[related_id] = None if found is None else self.represent(
                        target, related_id, found[0], found[1], select, base_url)
                out[nav] = seen.get(related_id) if related_id else None

    def _nav_target(self, table: TableDef, nav: str) -> TableDef:
        """The table a single-valued navigation property points at (one target: a polymorphic lookup
        names it, `parentcustomerid_account`)."""
        column, explicit = table.nav_column(nav)
        targets = (explicit,) if explicit else table.targets.get(column, ())
        if len(targets) != 1 or targets[0] not in self.tables:
            raise table.unknown(nav)
        return self.tables[targets[0]]

    def _related_getter(self, table: TableDef, name: str) -> Any:
        """Reads `nav/column` for a row: the column of the row its lookup points at (None when the
        lookup is empty), each related row read once per query."""
        nav, _, column = name.partition("/")
        lookup, _ = table.nav_column(nav)
        target = self._nav_target(table, nav)
        wanted = target.read_name(column) if not column.lower().startswith("_") else column.lower()
        seen: dict[str, dict[str, Any] | None] = {}

        def get(row: dict[str, Any]) -> Any:
            related_id = row.get(f"_{lookup}_value")
            if not related_id:
                return None
            if related_id not in seen:
                found = self.store.get(target.logical_name, related_id)
                seen[related_id] = None if found is None else self.filter_view(target, related_id, *found)
            view = seen[related_id]
            return None if view is None else view.get(wanted)

        return get

    def list(self, table: TableDef, req: Req) -> Result:
        select = self.select_of(table, req)
        views = list(self._filtered(table, req.query.get("$filter")))
        for name, desc in reversed(self.orderby_of(table, req)):
            kind = table.read_kind(name)
            low = name.lower() if not (table.columns.get(name.lower()) == "lookup") else f"_{name.lower()}_value"

            def sort_key(v: tuple[str, int, dict[str, Any], dict[str, Any]], k: str = kind, n: str = low) -> Any:
                return _sort_key(typed(k, v[3].get(n)))

            views.sort(key=sort_key, reverse=desc)
        total = len(views)
        top = req.query.get("$top")
        headers: dict[str, str] = {}
        next_link = None
        if top is not None:
            try:
                views = views[: int(top)]
            except ValueError as exc:
                raise bad_request(f"Invalid $top value '{top}'.") from exc
        else:
            pref = prefer(req.headers)
            size = MAX_PAGE
            if "odata.maxpagesize" in pref:
                try:
                    size = max(1, min(MAX_PAGE, int(pref["odata.maxpagesize"])))
                except ValueError as exc:
                    raise bad_request("Invalid odata.maxpagesize.") from exc
                headers["Preference-Applied"] = f"odata.maxpagesize={size}"
            offset = _offset_from(req.query.get("$skiptoken"))
            page = views[offset: offset + size]
            if offset + size < len(views):
                next_link = self.next_link(req, table, offset + size, offset // size + 2)
            views = page
        body: dict[str, Any] = {"@odata.context": f"{req.base_url}$metadata#{table.entity_set}"}
        if req.query.get("$count", "").lower() == "true":
            body["@odata.count"] = total
        body["value"] = [self.represent(table, rid, ver, data, select, req.base_url) for rid, ver, data, _ in views]
        self.expand_into(table, [(out, data) for out, (_, _, data, _) in zip(body["value"], views, strict=True)],
                         self.expand_of(table, req), req.base_url)
        if next_link:
            body["@odata.nextLink"] = next_link
        return Result(200, body, headers)

    def orderby_of(self, table: TableDef, req: Req) -> builtins.list[tuple[str, bool]]:
        raw = req.query.get("$orderby")
        if not raw:
            return []
        out = []
        for item in raw.split(","):
            parts = item.split()
            if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
                raise bad_request(f"Invalid $orderby '{raw}'.")
            try:
                table.read_kind(parts[0])
            except KeyError as exc:
                raise bad_request(str(exc.args[0])) from exc
            out.append((parts[0], len(parts) == 2 and parts[1].lower() == "desc"))
        return out

    def next_link(self, req: Req, table: TableDef, offset: int, page_number: int) -> str:
        # Dataverse's skiptoken is an opaque paging cookie; clients must follow the link as given.
        params = {k: v for k, v in req.query.items() if k != "$skiptoken"}
        params["$skiptoken"] = f'<cookie pagenumber="{page_number}" offset="{offset}" />'
        qs = "&".join(f"{quote(k, safe='$')}={quote(v, safe='')}" for k, v in params.items())
        return f"{req.base_url}{table.entity_set}?{qs}"

    # ---- writes --------------------------------------------------------------------------------

    def _write(self, table: TableDef, row_id: str, data: dict[str, Any], message: str,
               pre: dict[str, Any] | None, changed: builtins.list[str]) -> int:
        try:
            with self.store.transaction() as after:
                version = self.store.put(table.logical_name, row_id, data, self.key_values(table, data))
                post = {**data, "versionnumber": version}
                event = Event(message, table, row_id, pre, post, changed)
                after.append(lambda: self.fire(event))
        except DuplicateKey as exc:
            raise ODataError(412, "0x80040237",
                             f"A record that has the attribute values of the key {exc.keyname} already exists in "
                             f"{table.logical_name}.") from exc
        self.count("rows written")
        return version

    def create_row(self, table: TableDef, body: Any, refs: dict[str, str],
                   key_defaults: dict[str, Any] | None = None, forced_id: str | None = None) -> tuple[str, int]:
        changes, body_id = self.changes_from(table, body, refs)
        row_id = forced_id or body_id or str(uuid.uuid4())
        if self.store.get(table.logical_name, row_id) is not None:
            raise ODataError(412, "0x80040237", f"Cannot insert duplicate key: {table.logical_name} {row_id} exists.")
        now = _now()
        data = {**(key_defaults or {}), **changes, "createdon": now, "modifiedon": now}
        for column, default in table.defaults.items():
            if data.get(column) is None:
                # Dataverse stores a two-option column's default on create; it is never null.
                data[column] = default
        version = self._write(table, row_id, data, "Create", None, sorted(data))
        return row_id, version

    def update_row(self, table: TableDef, row_id: str, version: int, data: dict[str, Any], body: Any,
                   refs: dict[str, str]) -> int:
        changes, _ = self.changes_from(table, body, refs)
        new = {**data, **changes, "modifiedon": _now()}
        pre = {**data, "versionnumber": version}
        return self._write(table, row_id, new, "Update", pre, sorted(changes))

    def entity_headers(self, req: Req, table: TableDef, row_id: str, version: int) -> dict[str, str]:
        url = f"{req.base_url}{table.entity_set}({row_id})"
        return {"OData-EntityId": url, "Location": url, "ETag": f'W/"{version}"'}

    def _written(self, req: Req, table: TableDef, row_id: str, version: int, created: bool) -> Result:
        headers = self.entity_headers(req, table, row_id, version)
        if prefer(req.headers).get("return") == "representation":
            _, data = self.store.get(table.logical_name, row_id) or (version, {})
            body = self.represent(table, row_id, version, data, self.select_of(table, req), req.base_url)
            body = {"@odata.context": f"{req.base_url}$metadata#{table.entity_set}/$entity", **body}
            headers["Preference-Applied"] = "return=representation"
            return Result(201 if created else 200, body, headers)
        return Result(204, None, headers)

    def create(self, table: TableDef, req: Req, refs: dict[str, str]) -> Result:
        row_id, version = self.create_row(table, _json_body(req), refs)
        return self._written(req, table, row_id, version, True)

    def patch(self, table: TableDef, spec: str, req: Req, refs: dict[str, str]) -> Result:
        body = _json_body(req)
        row_id, values = self.parse_spec(table, spec)
        key_defaults: dict[str, Any] = {}
        if row_id is None:
            row_id, key_defaults = self.key_lookup(table, values or {})
        found = self.store.get(table.logical_name, row_id) if row_id else None
        if_match = req.headers.get("if-match")
        if_none = req.headers.get("if-none-match")
        if found is None:
            if if_match:
                raise ODataError(404, "0x80040217", f"{table.logical_name} With Id = {row_id or spec} Does Not Exist")
            new_id, version = self.create_row(table, body, refs, key_defaults, forced_id=row_id)
            return self._written(req, table, new_id, version, True)
        version, data = found
        if if_none == "*":
            raise ODataError(412, "0x80040237", "A record with matching key values already exists.")
        if if_match and if_match != "*" and if_match != f'W/"{version}"':
            raise ODataError(412, "0x80060882",
                             "The version of the existing record doesn't match the RowVersion property provided.")
        assert row_id is not None
        new_version = self.update_row(table, row_id, version, data, body, refs)
        return self._written(req, table, row_id, new_version, False)

    def delete(self, table: TableDef, spec: str, req: Req) -> Result:
        row_id, values = self.parse_spec(table, spec)
        if row_id is None:
            row_id, _ = self.key_lookup(table, values or {})
        found = self.store.get(table.logical_name, row_id) if row_id else None
        if found is None or row_id is None:
            raise ODataError(404, "0x80040217", f"{table.logical_name} With Id = {row_id or spec} Does Not Exist")
        version, data = found
        if_match = req.headers.get("if-match")
        if if_match and if_match != "*" and if_match != f'W/"{version}"':
            raise ODataError(412, "0x80060882",
                             "The version of the existing record doesn't match the RowVersion property provided.")
        with self.store.transaction() as after:
            self.store.delete(table.logical_name, row_id)
            event = Event("Delete", table, row_id, {**data, "versionnumber": version}, None, [])
            after.append(lambda: self.fire(event))
        return Result(204)

    def multiple(self, table: TableDef, action: str, req: Req, refs: dict[str, str]) -> Result:
        if table.logical_name in self.multiple_unsupported:
            raise bad_request(f"The '{action}' method does not support entities of type '{table.logical_name}'.",
                              "0x80040265")
        body = _json_body(req)
        targets = body.get("Targets") if isinstance(body, dict) else None
        if not isinstance(targets, list) or not targets:
            raise bad_request("Targets must be a non-empty array.", "0x80048d19")
        ids = []
        with self.store.transaction():
            for target in targets:
                if not isinstance(target, dict):
                    raise bad_request("Each target must be an object.", "0x80048d19")
                if target.get("@odata.type", "").lower() != f"microsoft.dynamics.crm.{table.logical_name}":
                    raise bad_request(f"Each target needs \"@odata.type\": \"Microsoft.Dynamics.CRM.{table.logical_name}\".",
                                      "0x80048d19")
                ids.append(self._one_of_multiple(table, action, target, refs))
        self.count(f"rows via {action}", len(targets))
        if action == "CreateMultiple":
            return Result(200, {"@odata.context": f"{req.base_url}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse",
                                "Ids": ids})
        return Result(204)

    def _one_of_multiple(self, table: TableDef, action: str, target: dict[str, Any], refs: dict[str, str]) -> str:
        body = {k: v for k, v in target.items() if k != "@odata.id"}
        row_id: str | None = None
        key_defaults: dict[str, Any] = {}
        if "@odata.id" in target:
            ref = str(target["@odata.id"])
            if API_PREFIX in ref:
                ref = ref.split(API_PREFIX, 1)[1]
            head, spec, _ = split_path(ref.lstrip("/"))
            if spec is None or self.table_for_set(head) is not table:
                raise bad_request(f"@odata.id '{ref}' does not address a {table.logical_name}.", "0x80048d19")
            row_id, values = self.parse_spec(table, spec)
            if row_id is None:
                row_id, key_defaults = self.key_lookup(table, values or {})
        elif target.get(table.primary_id):
            row_id = self.coerce_guid(table, target[table.primary_id])
        if action == "CreateMultiple":
            new_id, _ = self.create_row(table, body, refs, key_defaults, forced_id=row_id)
            return new_id
        found = self.store.get(table.logical_name, row_id) if row_id else None
        if found is None:
            if action == "UpdateMultiple":
                raise ODataError(404, "0x80040217", f"{table.logical_name} With Id = {row_id} Does Not Exist")
            new_id, _ = self.create_row(table, body, refs, key_defaults, forced_id=row_id)
            return new_id
        assert row_id is not None
        self.update_row(table, row_id, found[0], found[1], body, refs)
        return row_id

    # ---- webhooks ------------------------------------------------------------------------------

    def fire(self, event: Event) -> None:
        if event.table.logical_name.startswith("sdk") or event.table.logical_name == "serviceendpoint":
            return
        message_id = MESSAGE_IDS[event.message]
        for step_id, _ver, step in self.store.scan("sdkmessageprocessingstep"):
            if step.get("statecode") == 1 or (step.get("sdkmessageid") or {}).get("id") != message_id:
                continue
            filt = step.get("sdkmessagefilterid")
            if filt:
                found = self.store.get("sdkmessagefilter", filt["id"])
                if found is None or found[1].get("primaryobjecttypecode") != event.table.logical_name:
                    continue
            wanted = [a.strip().lower() for a in (step.get("filteringattributes") or "").split(",") if a.strip()]
            if event.message == "Update" and wanted and not set(wanted) & set(event.changed):
                continue
            if STEP_MODES.get(int(step.get("mode") or 0)) in getattr(self._local, "bypass", frozenset()):
                self.count("webhook steps bypassed")
                continue
            handler = step.get("eventhandler")
            endpoint = self.store.get("serviceendpoint", handler["id"]) if handler else None
            if endpoint is None:
                continue
            self.webhooks.enqueue(endpoint[1], remote_execution_context(event, step_id, step.get("name") or ""))

    def register_webhook(self, url: str, key: str, entities: builtins.list[str], messages: builtins.list[str] | tuple[str, ...] = (
            "Create", "Update"), *, header: str = "x-functions-key", filtering_attributes: str | None = None,
            mode: int = 1) -> str:
        """Adds a HttpHeader-auth service endpoint plus one async step per (entity, message), as an admin
        would with the Plug-in Registration Tool. Returns the service endpoint id."""
        endpoint_id = str(uuid.uuid4())
        now = _now()
        authvalue = f'<settings><setting name="{header}" value="{_xml_attr(key)}" /></settings>'
        with self.store.transaction():
            self.store.put("serviceendpoint", endpoint_id, {
                "name": f"webhook {url}", "url": url, "contract": 8, "authtype": 5, "authvalue": authvalue,
                "messageformat": 2, "createdon": now, "modifiedon": now}, {})
            for logical in entities:
                if logical not in self.tables:
                    raise KeyError(f"unknown table {logical}")
                for message in messages:
                    fid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sdkmessagefilter/{message}/{logical}"))
                    self.store.put("sdkmessageprocessingstep", str(uuid.uuid4()), {
                        "name": f"{message} of {logical} -> {url}", "stage": 40, "mode": mode, "rank": 1,
                        "eventhandler": {"id": endpoint_id, "table": "serviceendpoint"},
                        "sdkmessageid": {"id": MESSAGE_IDS[message], "table": "sdkmessage"},
                        "sdkmessagefilterid": {"id": fid, "table": "sdkmessagefilter"},
                        "filteringattributes": filtering_attributes, "statecode": 0,
                        "createdon": now, "modifiedon": now}, {})
        return endpoint_id


_LOOKUP_EQ = re.compile(r"(?:^|\band\s+)_\w+_value\s+eq\s+([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                        r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})(?:\s+and\b|$)")
_GUID_TEXT = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"


def _required_guid(flt: str | None) -> str | None:
    """A GUID every matching row must hold, when the filter is a plain AND with `_x_value eq <guid>`."""
    if not flt or re.search(r"\b(or|not)\b|\(", flt):
        return None
    found = _LOOKUP_EQ.search(flt.strip())
    return found.group(1).lower() if found else None


_LOOKUP_ANY = re.compile(r"^\(?\s*(_\w+_value\s+eq\s+" + _GUID_TEXT + r"(?:\s+or\s+_\w+_value\s+eq\s+"
                         + _GUID_TEXT + r")*)\s*\)?$")
_LOOKUP_ANY_TERM = re.compile(r"_\w+_value\s+eq\s+(" + _GUID_TEXT + ")")


def _any_lookup_guids(flt: str | None) -> tuple[str, ...] | None:
    """For a filter that is only `_x_value eq <guid> or ...` (how clients ask for the rows of a set
    of parents): the GUIDs, one of which every matching row holds. At most 200, else None."""
    if not flt:
        return None
    found = _LOOKUP_ANY.match(flt.strip())
    if not found:
        return None
    guids = tuple(dict.fromkeys(g.lower() for g in _LOOKUP_ANY_TERM.findall(found.group(1))))
    return guids if 0 < len(guids) <= 200 else None


def _xml_attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _nav_ok(table: TableDef, name: str) -> bool:
    try:
        table.nav_column(name[: -len("@odata.bind")])
        return True
    except KeyError:
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


def key_value(values: list[Any]) -> str:
    return json.dumps([v.lower() if isinstance(v, str) else v for v in values])


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)
    return (1, value.lower() if isinstance(value, str) else value)


_OFFSET = re.compile(r'offset="(\d+)"')


def _offset_from(token: str | None) -> int:
    if not token:
        return 0
    found = _OFFSET.search(token)
    if not found:
        raise bad_request("Invalid $skiptoken.")
    return int(found.group(1))


def _json_body(req: Req) -> Any:
    if not req.body:
        return {}
    try:
        from sandbox.dataverse.values import loads

        return loads(req.body)
    except ValueError as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", "0x80048d19") from exc


def _now() -> str:
    return format_datetime(datetime.now(UTC))
