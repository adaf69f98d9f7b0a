"""The tables the sandbox serves: the solution's tables (solution/schema.py) plus the system
tables used to register webhooks (serviceendpoint, sdkmessage, sdkmessagefilter,
sdkmessageprocessingstep), each with the columns the sandbox understands."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sandbox.dataverse.values import kind_of

# Every Dataverse table has these; the solution source doesn't list them.
SYSTEM_COLUMNS = {"createdon": "datetime", "modifiedon": "datetime", "versionnumber": "int"}
READ_ONLY = frozenset(SYSTEM_COLUMNS)


@dataclass
class TableDef:
    logical_name: str
    entity_set: str
    primary_id: str
    columns: dict[str, str]                      # logical name -> kind
    targets: dict[str, tuple[str, ...]]          # lookup column -> target logical names
    keys: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # Values Dataverse stores on create for columns the caller leaves out (two-option columns are never null).
    defaults: dict[str, Any] = field(default_factory=dict)
    primary_name: str = ""
    # The solution's table (solution.schema.Table) the metadata endpoints describe; None for system tables.
    source: Any = None

    def unknown(self, name: str) -> KeyError:
        return KeyError(f"Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{self.logical_name}'.")

    def read_kind(self, name: str) -> str:
        """Kind of a name as it appears in $select/$filter/$orderby (lookups as _x_value)."""
        low = name.lower()
        if low == self.primary_id:
            return "guid"
        if low.startswith("_") and low.endswith("_value"):
            col = low[1:-6]
            if self.columns.get(col) == "lookup":
                return "guid"
        kind = self.columns.get(low)
        if kind is None:
            raise self.unknown(name)
        return "guid" if kind == "lookup" else kind

    def read_name(self, name: str) -> str:
        """Canonical output name: a lookup column is always read as _x_value."""
        low = name.lower()
        return f"_{low}_value" if self.columns.get(low) == "lookup" else low

    def nav_column(self, nav: str) -> tuple[str, str | None]:
        """`cspb_Account` or `parentcustomerid_account` (polymorphic) -> (column, explicit target)."""
        low = nav.lower()
        if self.columns.get(low) == "lookup":
            return low, None
        head, _, tail = low.rpartition("_")
        if head and self.columns.get(head) == "lookup":
            return head, tail
        # Activity tables name the regarding navigation per target and table: regardingobjectid_account_task.
        suffix = "_" + self.logical_name.lower()
        if low.endswith(suffix):
            head, _, tail = low[: -len(suffix)].rpartition("_")
            if head and self.columns.get(head) == "lookup":
                return head, tail
        raise self.unknown(nav)


def _from_solution(table: Any) -> TableDef:
    columns: dict[str, str] = {}
    targets: dict[str, tuple[str, ...]] = {}
    for name, attr in table.attributes.items():
        if name == table.primary_id:
            continue
        kind = kind_of(attr.type)
        columns[name.lower()] = kind
        if kind == "lookup":
            raw = attr.target or ""
            items = raw if isinstance(raw, list | tuple) else [t for t in str(raw).split(",") if t]
            targets[name.lower()] = tuple(t.strip().lower() for t in items)
    for name, kind in SYSTEM_COLUMNS.items():
        columns.setdefault(name, kind)
    defaults = {name.lower(): bool(attr.default) for name, attr in table.attributes.items()
                if kind_of(attr.type) == "bool"}
    return TableDef(table.logical_name, table.entity_set_name, table.primary_id, columns, targets,
                    [(n, tuple(c.lower() for c in cols)) for n, cols in table.alternate_keys],
                    defaults=defaults, primary_name=table.primary_name, source=table)


def _builtin(logical: str, entity_set: str, columns: dict[str, str],
             targets: dict[str, tuple[str, ...]] | None = None) -> TableDef:
    bools = {name: False for name, kind in columns.items() if kind == "bool"}
    return TableDef(logical, entity_set, f"{logical}id", {**columns, **SYSTEM_COLUMNS}, targets or {},
                    defaults=bools, primary_name="name" if "name" in columns else "")


# Fixed ids, as in a real org where sdkmessage rows are the same everywhere they're looked up by name.
MESSAGE_IDS = {name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"sdkmessage/{name}")) for name in ("Create", "Update", "Delete")}

BUILTIN = [
    # contract 8 = Webhook; authtype 4 = WebhookKey (?code=), 5 = HttpHeader, 6 = HttpQueryString.
    _builtin("serviceendpoint", "serviceendpoints", {
        "name": "string", "url": "string", "contract": "picklist", "authtype": "picklist", "authvalue": "string",
        "messageformat": "picklist", "description": "string", "connectionmode": "picklist", "userclaim": "picklist",
        "namespaceaddress": "string", "path": "string", "statecode": "picklist"}),
    _builtin("sdkmessage", "sdkmessages", {"name": "string"}),
    _builtin("sdkmessagefilter", "sdkmessagefilters",
             {"sdkmessageid": "lookup", "primaryobjecttypecode": "string"}, {"sdkmessageid": ("sdkmessage",)}),
    _builtin("sdkmessageprocessingstep", "sdkmessageprocessingsteps", {
        "name": "string", "eventhandler": "lookup", "sdkmessageid": "lookup", "sdkmessagefilterid": "lookup",
        "stage": "picklist", "mode": "picklist", "rank": "int", "filteringattributes": "string",
        "asyncautodelete": "bool", "supporteddeployment": "picklist", "statecode": "picklist",
        "statuscode": "picklist", "description": "string", "configuration": "string"},
        {"eventhandler": ("serviceendpoint",), "sdkmessageid": ("sdkmessage",),
         "sdkmessagefilterid": ("sdkmessagefilter",)}),
]


def build_tables(solution_tables: dict[str, Any] | None = None) -> dict[str, TableDef]:
    if solution_tables is None:
        from solution.schema import load_tables

        solution_tables = load_tables()
    tables = {t.logical_name: t for t in BUILTIN}
    for table in solution_tables.values():
        tables[table.logical_name] = table if isinstance(table, TableDef) else _from_solution(table)
    return tables
