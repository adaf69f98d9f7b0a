"""Read-only `EntityDefinitions` metadata, derived from the tables the sandbox serves (the solution's).

Dataverse clients resolve a table's entity set, primary id and column types from here before they
touch data (Microsoft's `powerplatform-dataverse-client` does on every first use of a table):
https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query-metadata-web-api

Served: `EntityDefinitions` (with `$filter` on `Prop eq 'value'` terms joined by `and`, `$select`),
`EntityDefinitions(LogicalName='x')` or `EntityDefinitions(<MetadataId>)`, their `/Attributes`
(optionally cast to one `Microsoft.Dynamics.CRM.<Type>AttributeMetadata`, `$filter`, `$select`,
`$expand=OptionSet`), `/Attributes(LogicalName='y')` and `/Keys`. Writes answer 405: the solution
defines the tables.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from sandbox.dataverse.schema import TableDef

# sandbox kind -> (AttributeType, @odata.type suffix)
_TYPES = {
    "string": ("String", "String"), "memo": ("Memo", "Memo"), "int": ("Integer", "Integer"),
    "decimal": ("Decimal", "Decimal"), "money": ("Money", "Money"), "bool": ("Boolean", "Boolean"),
    "picklist": ("Picklist", "Picklist"), "lookup": ("Lookup", "Lookup"), "guid": ("Uniqueidentifier", "UniqueIdentifier"),
    "uniqueidentifier": ("Uniqueidentifier", "UniqueIdentifier"), "state": ("State", "State"),
    "status": ("Status", "Status"), "datetime": ("DateTime", "DateTime"), "date": ("DateTime", "DateTime"),
}
_TERM = re.compile(r"\s*(\w+)\s+eq\s+(?:'((?:[^']|'')*)'|(true|false))\s*", re.IGNORECASE)


class MetadataError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _id(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "dataverse-metadata/" + "/".join(parts)))


def _label(text: str) -> dict[str, Any]:
    localized = [{"Label": text, "LanguageCode": 1033}] if text else []
    return {"LocalizedLabels": localized, "UserLocalizedLabel": localized[0] if localized else None}


def _kind(table: TableDef, name: str) -> str:
    """The solution's type where there is one (it tells memo from string, state from picklist)."""
    if name == table.primary_id:
        return "uniqueidentifier"
    source = getattr(table.source, "attributes", {}).get(name) if table.source is not None else None
    return str(source.type) if source is not None else table.columns.get(name, "string")


def attribute(table: TableDef, name: str) -> dict[str, Any]:
    kind = _kind(table, name)
    attr_type, cast = _TYPES.get(kind, ("String", "String"))
    source = getattr(table.source, "attributes", {}).get(name) if table.source is not None else None
    label = (getattr(source, "labels", {}) or {}).get(1033, "") if source is not None else ""
    out: dict[str, Any] = {
        "@odata.type": f"#Microsoft.Dynamics.CRM.{cast}AttributeMetadata",
        "MetadataId": _id(table.logical_name, name), "LogicalName": name, "SchemaName": name,
        "EntityLogicalName": table.logical_name, "AttributeType": attr_type,
        "AttributeTypeName": {"Value": f"{attr_type}Type"},
        "IsPrimaryId": name == table.primary_id, "IsPrimaryName": name == table.primary_name,
        "IsCustomAttribute": name.startswith("cspb_"), "IsValidForCreate": name not in ("createdon", "modifiedon",
                                                                                        "versionnumber"),
        "IsValidForUpdate": name not in (table.primary_id, "createdon", "modifiedon", "versionnumber"),
        "IsValidForRead": True,
        "RequiredLevel": {"Value": "ApplicationRequired" if getattr(source, "required", False) else "None"},
        "DisplayName": _label(label),
    }
    if kind in ("string", "memo"):
        out["MaxLength"] = getattr(source, "max_length", None) or 100
    if kind == "bool":
        out["DefaultValue"] = bool(table.defaults.get(name, False))
    if kind == "lookup":
        out["Targets"] = list(table.targets.get(name, ()))
    return out


def _option_set(table: TableDef, name: str) -> dict[str, Any]:
    kind = _kind(table, name)
    source = getattr(table.source, "attributes", {}).get(name) if table.source is not None else None
    if kind == "bool":
        return {"OptionSetType": "Boolean", "TrueOption": {"Value": 1, "Label": _label("Yes")},
                "FalseOption": {"Value": 0, "Label": _label("No")}}
    options = (getattr(source, "options", None) or {}) if source is not None else {}
    return {"OptionSetType": kind.capitalize() if kind in ("state", "status") else "Picklist",
            "Options": [{"Value": value, "Label": _label(text)} for value, text in sorted(options.items())]}


def entity(table: TableDef) -> dict[str, Any]:
    source = table.source
    label = (getattr(source, "labels", {}) or {}).get(1033, "") if source is not None else ""
    return {
        "MetadataId": _id(table.logical_name), "LogicalName": table.logical_name,
        "SchemaName": table.logical_name, "EntitySetName": table.entity_set,
        "LogicalCollectionName": table.entity_set, "PrimaryIdAttribute": table.primary_id,
        "PrimaryNameAttribute": table.primary_name or None,
        "IsCustomEntity": table.logical_name.startswith("cspb_"), "DisplayName": _label(label),
    }


def _names(table: TableDef) -> list[str]:
    return [table.primary_id, *[c for c in table.columns if c != table.primary_id]]


def _project(item: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return item
    wanted = [s.strip() for s in select.split(",") if s.strip()]
    out = {k: v for k, v in item.items() if k.startswith("@odata.")}
    for key in wanted:
        if key in item:
            out[key] = item[key]
    return out


def _matches(item: dict[str, Any], text: str | None) -> bool:
    if not text:
        return True
    for term in re.split(r"\s+and\s+", text.strip(), flags=re.IGNORECASE):
        m = _TERM.fullmatch(term)
        if m is None:
            raise MetadataError(400, f"The sandbox's metadata $filter supports `Property eq 'value'` terms, not "
                                     f"{term!r}.")
        prop, text_value, bool_value = m.groups()
        have = item.get(prop)
        want: Any = (bool_value.lower() == "true") if bool_value else text_value.replace("''", "'")
        if isinstance(have, str) and isinstance(want, str):
            if have.lower() != want.lower():
                return False
        elif have != want:
            return False
    return True


def _find_table(tables: dict[str, TableDef], spec: str) -> TableDef:
    m = re.fullmatch(r"LogicalName='([^']+)'", spec.strip())
    if m:
        table = tables.get(m.group(1).lower())
    else:
        table = next((t for t in tables.values() if _id(t.logical_name) == spec.strip().lower()), None)
    if table is None:
        raise MetadataError(404, f"Could not find an entity with {spec}.")
    return table


def handle(tables: dict[str, TableDef], method: str, spec: str | None, rest: str, query: dict[str, str],
           base_url: str) -> dict[str, Any]:
    if method.upper() != "GET":
        raise MetadataError(405, "The sandbox serves metadata read-only: the tables come from the solution.")
    context = f"{base_url}$metadata#EntityDefinitions"
    if spec is None:
        if rest:
            raise MetadataError(404, f"Resource not found for the segment '{rest}'.")
        items = [entity(t) for t in tables.values()]
        items = [_project(i, query.get("$select")) for i in items if _matches(i, query.get("$filter"))]
        return {"@odata.context": context, "value": items}
    table = _find_table(tables, spec)
    if not rest:
        body = _project(entity(table), query.get("$select"))
        if "attributes" in (query.get("$expand") or "").lower():
            body["Attributes"] = [attribute(table, n) for n in _names(table)]
        return {"@odata.context": f"{context}/$entity", **body}
    segment, _, tail = rest.partition("/")
    if segment == "Keys":
        keys = [{"MetadataId": _id(table.logical_name, "key", name), "LogicalName": name, "SchemaName": name,
                 "KeyAttributes": list(columns), "EntityKeyIndexStatus": "Active"} for name, columns in table.keys]
        return {"@odata.context": f"{context}({_id(table.logical_name)})/Keys", "value": keys}
    one = re.fullmatch(r"Attributes\(LogicalName='([^']+)'\)", segment)
    if one:
        name = one.group(1).lower()
        if name not in table.columns and name != table.primary_id:
            raise MetadataError(404, f"Could not find an attribute named {name} on {table.logical_name}.")
        return _with_options(table, attribute(table, name), query)
    if segment != "Attributes":
        raise MetadataError(404, f"Resource not found for the segment '{segment}'.")
    items = [attribute(table, n) for n in _names(table)]
    if tail:
        cast = tail.removeprefix("Microsoft.Dynamics.CRM.")
        items = [i for i in items if i["@odata.type"] == f"#Microsoft.Dynamics.CRM.{cast}"]
    items = [_with_options(table, i, query) for i in items if _matches(i, query.get("$filter"))]
    return {"@odata.context": f"{context}({_id(table.logical_name)})/Attributes", "value": items}


def _with_options(table: TableDef, item: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
    out = _project(item, query.get("$select"))
    if "optionset" in (query.get("$expand") or "").lower() and item["AttributeType"] in (
            "Picklist", "Boolean", "State", "Status"):
        out["OptionSet"] = _option_set(table, item["LogicalName"])
    return out
