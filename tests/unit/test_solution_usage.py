"""Every Dataverse table and column the app code names must exist in the packed solution (or be a
platform column of a standard table). Grep-based on purpose: it catches a typo'd column in any
area without running that area's code."""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from solution import pack as packer
from solution.components import ENV_VARS
from solution.standard_tables import STANDARD

REPO = Path(__file__).resolve().parents[2]
# App code that talks to Dataverse. sandbox/ and tests/ are left out: they may name things on purpose.
SCANNED = ("dataverse", "billing", "functions", "partnercenter", "distributors", "portal", "cli", "recon",
           "payments", "accounting", "sync", "shared", "kpis", "provisioning", "function_app.py")
# cspb_-prefixed strings that are not Dataverse names. Add here, with the reason, if you need one.
NOT_DATAVERSE = {
    "cspb_portal": "portal session cookie name",
    "cspb_reference": "Stripe metadata key",
}

# Lookups of platform tables outside the solution and STANDARD. Add here, with the reason, if you need one.
PLATFORM_LOOKUPS = {
    "eventhandler": "sdkmessageprocessingstep.eventhandler: the demo unregisters the webhook steps it registered",
}

_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(_?)(cspb_[a-z0-9_]+)")
_BIND = re.compile(r"""["'/]/([a-z_]+)\((?:\{|[0-9a-fA-F'{])""")
_LOOKUP_VALUE = re.compile(r"""["',=]\s*_([a-z][a-z0-9_]*?)_value\b(?!\()""")
_SELECT = re.compile(r"\$select=([A-Za-z0-9_,]+)")

ENTITY_PATH = "Entities/Entity/EntityInfo/entity"


def _files() -> list[Path]:
    out: list[Path] = []
    for name in SCANNED:
        path = REPO / name
        if path.is_file():
            out.append(path)
        elif path.is_dir():
            out.extend(p for p in path.rglob("*.py") if ".venv" not in p.parts)
    return out


@pytest.fixture(scope="module")
def names() -> dict[str, set[str]]:
    zf = zipfile.ZipFile(io.BytesIO(packer.build_zip()))
    cust = ET.fromstring(zf.read("customizations.xml"))
    entities = {e.get("Name", "").lower() for e in cust.findall(ENTITY_PATH)} | set(STANDARD)
    sets = {e.findtext("EntitySetName", "") for e in cust.findall(ENTITY_PATH)} | {s[0] for s in STANDARD.values()}
    columns = {a.findtext("LogicalName", "") for a in cust.iterfind(ENTITY_PATH + "/attributes/attribute")}
    columns |= {c[0] for s in STANDARD.values() for c in s[3]}
    keys = {k.findtext("LogicalName", "") for k in cust.iter("EntityKey")}
    other = {v.schema_name.lower() for v in ENV_VARS} | set(NOT_DATAVERSE)
    return {"entities": entities, "sets": sets, "columns": columns, "all": entities | sets | columns | keys | other}


def test_scan_covers_app_code():
    assert len(_files()) > 10


def test_every_cspb_name_in_app_code_exists_in_the_solution(names):
    unknown = []
    for path in _files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in _TOKEN.finditer(line):
                token = match.group(2)
                if match.group(1) and token.endswith("_value"):
                    token = token[: -len("_value")]
                if token not in names["all"]:
                    unknown.append(f"{path.relative_to(REPO)}:{n}: {token}")
    assert not unknown, "names not in the solution (fix the code, or add them to solution/spec.py):\n" + \
        "\n".join(unknown)


def test_entity_sets_lookups_and_selects_in_app_code_exist(names):
    unknown = []
    for path in _files():
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(REPO)}:{n}"
            unknown += [f"{where}: entity set {m}" for m in _BIND.findall(line) if m not in names["sets"]]
            unknown += [f"{where}: lookup _{m}_value" for m in _LOOKUP_VALUE.findall(line)
                        if m not in names["columns"] and m not in PLATFORM_LOOKUPS]
            for select in _SELECT.findall(line):
                unknown += [f"{where}: $select {c}" for c in select.split(",")
                            if c and not c.startswith("_") and c not in names["columns"]]
    assert not unknown, "\n".join(unknown)


def test_scanner_patterns_catch_typos():
    line = 'dv.update("/cspb_subscriptionz(1)", {"cspb_quantty": 1}); q = "$select=name,totalamont,_customerid_value"'
    assert [m.group(2) for m in _TOKEN.finditer(line)] == ["cspb_subscriptionz", "cspb_quantty"]
    assert _BIND.findall(line) == ["cspb_subscriptionz"]
    assert _SELECT.findall(line) == ["name,totalamont,_customerid_value"]
    assert _LOOKUP_VALUE.findall(line) == ["customerid"]
    assert _LOOKUP_VALUE.findall("def _redact_value(x): return _redact_value(y)") == []
