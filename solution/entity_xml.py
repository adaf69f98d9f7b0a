"""Build the SolutionPackager files for tables: Entities/<SchemaName>/Entity.xml and
Other/Relationships/<Entity>.xml, from solution/spec.py.

Element names follow what `pac solution unpack` / SolutionPackager write for an entity
(https://learn.microsoft.com/power-platform/alm/solution-packager-tool,
https://learn.microsoft.com/power-apps/developer/data-platform/solution-component-file-reference).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from solution.commands import ribbon
from solution.spec import Col, TableSpec

LANGS = (1033, 3082)
XSI = "http://www.w3.org/2001/XMLSchema-instance"
VERSION = "1.0.0.0"

# spec type -> (Entity.xml <Type>, <Format>)
XML_TYPES: dict[str, tuple[str, str | None]] = {
    "string": ("nvarchar", "text"),
    "memo": ("ntext", "text"),
    "int": ("int", "none"),
    "decimal": ("decimal", None),
    "money": ("money", None),
    "bool": ("bit", None),
    "datetime": ("datetime", "datetime"),
    "date": ("datetime", "date"),
    "picklist": ("picklist", None),
    "lookup": ("lookup", None),
    "uniqueidentifier": ("primarykey", None),
    "state": ("state", None),
    "status": ("status", None),
}
# DateTimeBehavior: 1 UserLocal, 2 DateOnly (a billing date has no time zone).
BEHAVIOR = {"datetime": "1", "date": "2"}


def sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def labels(parent: ET.Element, outer: str, inner: str, label: tuple[str, str]) -> ET.Element:
    box = sub(parent, outer)
    for lang, text in zip(LANGS, label, strict=True):
        sub(box, inner, description=text, languagecode=str(lang))
    return box


def system_columns(table: TableSpec) -> tuple[Col, ...]:
    """Columns the platform adds to every custom table; shipped in Entity.xml as an export has them."""
    cols = [
        Col(f"{table.logical_name}id", "uniqueidentifier", table.label),
        Col("statecode", "state", ("Status", "Estado"), required=True),
        Col("statuscode", "status", ("Status Reason", "Razón para el estado")),
        Col("createdon", "datetime", ("Created On", "Fecha de creación")),
        Col("modifiedon", "datetime", ("Modified On", "Fecha de modificación")),
    ]
    if any(c.type == "money" for c in table.columns):
        cols += [
            Col("transactioncurrencyid", "lookup", ("Currency", "Divisa"), target="transactioncurrency"),
            Col("exchangerate", "decimal", ("Exchange Rate", "Tipo de cambio")),
        ]
    return tuple(cols)


STATE_OPTIONS = ((0, "Active", "Activo"), (1, "Inactive", "Inactivo"))
STATUS_OPTIONS = ((1, "Active", "Activo", 0), (2, "Inactive", "Inactivo", 1))


def _optionset(attr: ET.Element, table: TableSpec, col: Col) -> None:
    kind = {"bool": "bit", "state": "state", "status": "status"}.get(col.type, "picklist")
    os_ = sub(attr, "optionset", Name=f"{table.logical_name}_{col.name}")
    sub(os_, "OptionSetType", kind)
    sub(os_, "IntroducedVersion", VERSION)
    sub(os_, "IsCustomizable", "1")
    labels(os_, "displaynames", "displayname", col.label)
    if col.type == "bool":
        opts = [(1, "Yes", "Sí"), (0, "No", "No")]
        box = sub(os_, "options")
        for value, en, es in opts:
            labels(sub(box, "option", value=str(value)), "labels", "label", (en, es))
        return
    if col.type == "state":
        box = sub(os_, "states")
        for value, en, es in STATE_OPTIONS:
            st = sub(box, "state", value=str(value), defaultstatus=str(value + 1), invariantname=en)
            labels(st, "labels", "label", (en, es))
        return
    if col.type == "status":
        box = sub(os_, "statuses")
        for value, en, es, state in STATUS_OPTIONS:
            st = sub(box, "status", value=str(value), state=str(state))
            labels(st, "labels", "label", (en, es))
        return
    box = sub(os_, "options")
    for value, en, es in col.options:
        labels(sub(box, "option", value=str(value)), "labels", "label", (en, es))


def _attribute(attrs: ET.Element, table: TableSpec, col: Col, *, primary_name: bool) -> None:
    xml_type, fmt = XML_TYPES[col.type]
    attr = sub(attrs, "attribute", PhysicalName=col.name)
    sub(attr, "Type", xml_type)
    sub(attr, "Name", col.name)
    sub(attr, "LogicalName", col.name)
    required = "systemrequired" if col.type in ("uniqueidentifier", "state") else (
        "required" if col.required else "none")
    sub(attr, "RequiredLevel", required)
    mask = "ValidForAdvancedFind|ValidForForm|ValidForGrid"
    if primary_name:
        mask = "PrimaryName|" + mask + "|RequiredForForm"
    sub(attr, "DisplayMask", mask)
    sub(attr, "ValidForUpdateApi", "0" if col.type == "uniqueidentifier" else "1")
    sub(attr, "ValidForReadApi", "1")
    sub(attr, "ValidForCreateApi", "1")
    sub(attr, "IsCustomField", "1" if col.name.startswith("cspb_") else "0")
    sub(attr, "IsAuditEnabled", "1")
    sub(attr, "IsSecured", "0")
    sub(attr, "IntroducedVersion", VERSION)
    sub(attr, "IsCustomizable", "1")
    sub(attr, "SourceType", "0")
    if fmt is not None:
        sub(attr, "Format", fmt)
    if col.type in BEHAVIOR:
        sub(attr, "CanChangeDateTimeBehavior", "0" if col.type == "date" else "1")
        sub(attr, "Behavior", BEHAVIOR[col.type])
    if col.type in ("string", "memo"):
        sub(attr, "MaxLength", str(col.max_length or 100))
        if col.type == "string":
            sub(attr, "Length", str(2 * (col.max_length or 100)))
    elif col.type == "int":
        sub(attr, "MinValue", "-2147483648")
        sub(attr, "MaxValue", "2147483647")
    elif col.type == "decimal":
        sub(attr, "MinValue", "-100000000000")
        sub(attr, "MaxValue", "100000000000")
        sub(attr, "Accuracy", "10" if col.name == "exchangerate" else "4")
    elif col.type == "money":
        sub(attr, "MinValue", "-922337203685477")
        sub(attr, "MaxValue", "922337203685477")
        sub(attr, "Accuracy", "2")
        # 2 = use the currency's precision, so JPY/KRW amounts carry no minor unit
        sub(attr, "AccuracySource", "2")
    elif col.type == "lookup":
        sub(attr, "LookupStyle", "single")
        sub(attr, "LookupTypes")
    elif col.type in ("picklist", "bool", "state", "status"):
        if col.type in ("picklist", "bool"):
            sub(attr, "AppDefaultValue", str(int(col.default)) if col.type == "bool" else "-1")
        _optionset(attr, table, col)
    labels(attr, "displaynames", "displayname", col.label)


def entity_element(table: TableSpec) -> ET.Element:
    """The <Entity> element: the same content goes into Entity.xml and customizations.xml."""
    root = ET.Element("Entity")
    name = sub(root, "Name", table.schema_name, LocalizedName=table.label[0], OriginalName=table.label[0])
    del name  # the element carries the schema name; nothing else to set
    info = sub(root, "EntityInfo")
    ent = sub(info, "entity", Name=table.schema_name)
    labels(ent, "LocalizedNames", "LocalizedName", table.label)
    labels(ent, "LocalizedCollectionNames", "LocalizedCollectionName", table.plural)
    attrs = sub(ent, "attributes")
    columns = (system_columns(table) + table.columns) if table.custom else table.columns
    for col in columns:
        _attribute(attrs, table, col, primary_name=table.custom and col.name == "cspb_name")
    sub(ent, "EntitySetName", table.entity_set_name)
    if table.custom:
        sub(ent, "IsDuplicateCheckSupported", "0")
        sub(ent, "IsBusinessProcessEnabled", "0")
        sub(ent, "IsAuditEnabled", "1")
        sub(ent, "IsQuickCreateEnabled", "0")
        sub(ent, "IsActivity", "0")
        sub(ent, "OwnershipTypeMask", "OrganizationOwned")
        sub(ent, "IntroducedVersion", VERSION)
        sub(ent, "IsCustomizable", "1")
        sub(ent, "IsRenameable", "1")
        sub(ent, "ChangeTrackingEnabled", "1")
    if table.keys:
        keys = sub(ent, "EntityKeys")
        for key_name, key_cols in table.keys:
            key = sub(keys, "EntityKey")
            sub(key, "LogicalName", key_name)
            sub(key, "Name", key_name)
            kattrs = sub(key, "EntityKeyAttributes")
            for c in key_cols:
                sub(kattrs, "AttributeName", c)
            sub(key, "IsCustomizable", "1")
            label = " + ".join(key_cols)
            labels(key, "displaynames", "displayname", (f"Key: {label}", f"Clave: {label}"))
    sub(root, "FormXml")
    sub(root, "SavedQueries")
    root.append(ribbon(table.logical_name))
    return root


# Schema names of platform tables our lookups point at (relationship files are named by them).
PLATFORM_SCHEMA_NAMES = {"transactioncurrency": "TransactionCurrency", "uom": "UoM", "uomschedule": "UoMSchedule"}


def relationships(tables: tuple[TableSpec, ...]) -> list[tuple[str, ET.Element]]:
    """(referenced entity schema name, <EntityRelationship>) for every lookup, in spec order.

    SolutionPackager keeps a 1:N relationship in Other/Relationships/<referenced entity schema name>.xml.
    """
    schema = {t.logical_name: t.schema_name for t in tables} | PLATFORM_SCHEMA_NAMES
    out = []
    for table in tables:
        columns = (system_columns(table) + table.columns) if table.custom else table.columns
        for col in columns:
            if col.type != "lookup":
                continue
            assert col.target is not None
            name = f"cspb_{table.logical_name}_{col.name}"
            rel = ET.Element("EntityRelationship", Name=name)
            sub(rel, "EntityRelationshipType", "OneToMany")
            sub(rel, "IsCustomizable", "1")
            sub(rel, "IntroducedVersion", VERSION)
            sub(rel, "IsHierarchical", "1" if col.target == table.logical_name else "0")
            sub(rel, "ReferencingEntityName", table.schema_name)
            sub(rel, "ReferencedEntityName", schema[col.target])
            for cascade in ("Assign", "Reparent", "Share", "Unshare", "RollupView"):
                sub(rel, f"Cascade{cascade}", "NoCascade")
            # Deleting a parent must never delete billing history; it only clears the link.
            sub(rel, "CascadeDelete", "RemoveLink")
            sub(rel, "IsValidForAdvancedFind", "1")
            sub(rel, "ReferencingAttributeName", col.name)
            roles = sub(rel, "EntityRelationshipRoles")
            one = sub(roles, "EntityRelationshipRole")
            sub(one, "NavPaneDisplayOption", "UseCollectionName")
            sub(one, "NavPaneArea", "Details")
            sub(one, "NavPaneOrder", "10000")
            sub(one, "NavigationPropertyName", col.name)
            sub(one, "RelationshipRoleType", "1")
            many = sub(roles, "EntityRelationshipRole")
            sub(many, "NavigationPropertyName", name)
            sub(many, "RelationshipRoleType", "0")
            out.append((schema[col.target], rel))
    return out


def to_bytes(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + body + "\n").encode("utf-8")


def with_xsi(root: ET.Element) -> ET.Element:
    root.set("xmlns:xsi", XSI)
    return root
