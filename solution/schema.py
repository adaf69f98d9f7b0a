"""Load the table schema from the solution source: every table and column CSPBridge may use.

`load_tables()` parses Entities/*/Entity.xml and Other/Relationships/*.xml (the lookup targets)
and merges the standard Dynamics 365 tables from solution/standard_tables.py. It imports no app
code, so the Dataverse sandbox can use it too. Parsed results are cached per source folder and
invalidated when a file changes.

`required` mirrors RequiredLevel "required" (ApplicationRequired) or "systemrequired". Dataverse
enforces ApplicationRequired in forms only, not in the Web API.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from solution.standard_tables import STANDARD

SRC = Path(__file__).resolve().parent / "src"
ENGLISH = 1033


@dataclass(frozen=True)
class Attribute:
    logical_name: str
    type: str
    target: str | None = None
    options: dict[int, str] | None = None
    required: bool = False
    labels: dict[int, str] = field(default_factory=dict, compare=False)
    max_length: int | None = None  # string/memo only; Dataverse rejects longer values
    # bool only: the value stored on create when none is sent (the solution's AppDefaultValue).
    default: bool | None = None


@dataclass(frozen=True)
class Table:
    logical_name: str
    entity_set_name: str
    primary_id: str
    primary_name: str
    attributes: dict[str, Attribute]
    alternate_keys: list[tuple[str, tuple[str, ...]]]
    custom: bool
    labels: dict[int, str] = field(default_factory=dict, compare=False)

    @property
    def lookups(self) -> dict[str, str]:
        """Lookup column -> target table, e.g. {"cspb_account": "account"}."""
        return {a.logical_name: a.target for a in self.attributes.values() if a.type == "lookup" and a.target}


def _type_of(attr: ET.Element) -> str:
    xml_type = attr.findtext("Type", "")
    fmt = attr.findtext("Format", "")
    mapping = {
        "nvarchar": "string", "ntext": "memo", "int": "int", "decimal": "decimal", "money": "money",
        "bit": "bool", "picklist": "picklist", "lookup": "lookup", "customer": "lookup", "owner": "lookup",
        "primarykey": "uniqueidentifier", "uniqueidentifier": "uniqueidentifier", "state": "state",
        "status": "status", "datetime": "date" if fmt == "date" else "datetime",
    }
    if xml_type not in mapping:
        raise ValueError(f"unknown attribute type {xml_type!r} for {attr.findtext('LogicalName')}")
    return mapping[xml_type]


def _labels(parent: ET.Element | None, path: str) -> dict[int, str]:
    if parent is None:
        return {}
    return {int(el.get("languagecode", "0")): el.get("description", "") for el in parent.findall(path)}


def _options(attr: ET.Element) -> dict[int, str] | None:
    os_ = attr.find("optionset")
    if os_ is None or os_.findtext("OptionSetType") == "bit":
        return None
    found: dict[int, str] = {}
    for opt in [*os_.findall("options/option"), *os_.findall("states/state"), *os_.findall("statuses/status")]:
        found[int(opt.get("value", "0"))] = _labels(opt, "labels/label").get(ENGLISH, "")
    return found


def _lookup_targets(src: Path) -> dict[tuple[str, str], str]:
    targets = {}
    for path in sorted((src / "Other" / "Relationships").glob("*.xml")):
        for rel in ET.parse(path).getroot().findall("EntityRelationship"):
            referencing = rel.findtext("ReferencingEntityName", "").lower()
            column = rel.findtext("ReferencingAttributeName", "").lower()
            targets[(referencing, column)] = rel.findtext("ReferencedEntityName", "").lower()
    return targets


def _parse_entity(path: Path, targets: dict[tuple[str, str], str]) -> Table:
    root = ET.parse(path).getroot()
    ent = root.find("EntityInfo/entity")
    if ent is None:
        raise ValueError(f"{path}: no EntityInfo/entity")
    logical = ent.get("Name", "").lower()
    attrs: dict[str, Attribute] = {}
    primary_id = primary_name = ""
    for a in ent.findall("attributes/attribute"):
        name = a.findtext("LogicalName", "").lower()
        kind = _type_of(a)
        attrs[name] = Attribute(
            logical_name=name,
            type=kind,
            target=targets.get((logical, name)) if kind == "lookup" else None,
            options=_options(a) if kind in ("picklist", "state", "status") else None,
            required=a.findtext("RequiredLevel", "none") in ("required", "systemrequired"),
            labels=_labels(a, "displaynames/displayname"),
            max_length=int(a.findtext("MaxLength", "0")) or None if kind in ("string", "memo") else None,
            default=a.findtext("AppDefaultValue", "0").strip() == "1" if kind == "bool" else None,
        )
        if kind == "uniqueidentifier" and name == f"{logical}id":
            primary_id = name
        if "PrimaryName" in a.findtext("DisplayMask", ""):
            primary_name = name
    keys = [
        (k.findtext("LogicalName", ""), tuple(n.text or "" for n in k.findall("EntityKeyAttributes/AttributeName")))
        for k in ent.findall("EntityKeys/EntityKey")
    ]
    return Table(
        logical_name=logical,
        entity_set_name=ent.findtext("EntitySetName", ""),
        primary_id=primary_id,
        primary_name=primary_name,
        attributes=attrs,
        alternate_keys=keys,
        custom=logical.startswith("cspb_"),
        labels=_labels(ent, "LocalizedNames/LocalizedName"),
    )


def _standard(logical: str) -> Table:
    entity_set, primary_id, primary_name, columns, keys = STANDARD[logical]
    attrs = {
        name: Attribute(name, kind, target, dict(options) if options else None, name == primary_id)
        for name, kind, target, options in columns
    }
    return Table(logical, entity_set, primary_id, primary_name, attrs, list(keys), custom=False)


def _merge(base: Table, ext: Table) -> Table:
    return Table(
        logical_name=base.logical_name,
        entity_set_name=base.entity_set_name,
        primary_id=base.primary_id,
        primary_name=base.primary_name,
        attributes={**base.attributes, **ext.attributes},
        alternate_keys=[*base.alternate_keys, *ext.alternate_keys],
        custom=False,
        labels=ext.labels or base.labels,
    )


def _fingerprint(src: Path) -> tuple[tuple[str, int, int], ...]:
    files = [*src.glob("Entities/*/Entity.xml"), *src.glob("Other/Relationships/*.xml")]
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files))


@lru_cache(maxsize=8)
def _load(src: Path, fingerprint: tuple[tuple[str, int, int], ...]) -> dict[str, Table]:
    del fingerprint  # part of the cache key only
    targets = _lookup_targets(src)
    tables = {name: _standard(name) for name in STANDARD}
    for path in sorted(src.glob("Entities/*/Entity.xml")):
        table = _parse_entity(path, targets)
        base = tables.get(table.logical_name)
        tables[table.logical_name] = _merge(base, table) if base is not None else table
    return tables


def load_tables(src_dir: Path | None = None) -> dict[str, Table]:
    """Logical name -> Table, for custom tables and the standard tables the design uses."""
    src = (src_dir or SRC).resolve()
    return dict(_load(src, _fingerprint(src)))


def by_entity_set(src_dir: Path | None = None) -> dict[str, Table]:
    """Entity set name (the Web API path segment, e.g. "cspb_subscriptions") -> Table."""
    return {t.entity_set_name: t for t in load_tables(src_dir).values()}
