from __future__ import annotations

import io
import shutil
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.solution_cmd import solution as solution_cli
from solution import pack as packer
from solution.components import ENV_VARS, STEPS
from solution.forms import STANDARD_FORMS
from solution.schema import SRC, load_tables
from solution.spec import ALL, VIEWS

ENTITY_PATH = "Entities/Entity/EntityInfo/entity"


@pytest.fixture(scope="module")
def unmanaged() -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(packer.build_zip()))


def _xml(zf: zipfile.ZipFile, name: str) -> ET.Element:
    return ET.fromstring(zf.read(name))


def _copy_without_web_resources(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(SRC, src, ignore=shutil.ignore_patterns("WebResources"))
    return src


def test_committed_web_resources_are_all_shipped(unmanaged):
    base = SRC / "WebResources"
    files = {p.relative_to(SRC).as_posix() for p in base.rglob("*")
             if p.is_file() and not p.name.endswith(".data.xml")} if base.is_dir() else set()
    assert files <= set(unmanaged.namelist())
    names = {r.findtext("FileName").lstrip("/") for r in _xml(unmanaged, "customizations.xml").iter("WebResource")}
    assert names == files


def test_zip_has_export_layout_and_every_xml_is_well_formed(unmanaged):
    names = unmanaged.namelist()
    assert names[:3] == ["[Content_Types].xml", "solution.xml", "customizations.xml"]
    for var in ENV_VARS:
        assert f"environmentvariabledefinitions/{var.schema_name}/environmentvariabledefinition.xml" in names
    for name in names:
        if name.endswith(".xml"):
            ET.fromstring(unmanaged.read(name))  # raises if malformed
    types = _xml(unmanaged, "[Content_Types].xml")
    assert {d.get("Extension") for d in types} >= {"xml"}


def test_manifest_publisher_and_managed_flag(unmanaged):
    man = _xml(unmanaged, "solution.xml").find("SolutionManifest")
    assert man.findtext("UniqueName") == "CSPBridge"
    assert man.findtext("Managed") == "0"
    assert man.findtext("Publisher/UniqueName") == "cspb"
    assert man.findtext("Publisher/CustomizationPrefix") == "cspb"
    assert man.findtext("Publisher/CustomizationOptionValuePrefix") == "10000"
    managed = zipfile.ZipFile(io.BytesIO(packer.build_zip(managed=True)))
    assert _xml(managed, "solution.xml").findtext("SolutionManifest/Managed") == "1"
    roots = {(r.get("type"), r.get("schemaName")) for r in man.iter("RootComponent")}
    assert ("1", "cspb_subscription") in roots and ("380", "cspb_FunctionKey") in roots


def test_customizations_hold_every_table_column_key_and_relationship(unmanaged):
    cust = _xml(unmanaged, "customizations.xml")
    entities = {e.get("Name").lower(): e for e in cust.findall(ENTITY_PATH)}
    for spec in ALL:
        ent = entities[spec.logical_name]
        assert ent.findtext("EntitySetName") == spec.entity_set_name
        shipped = {a.findtext("LogicalName") for a in ent.iterfind("attributes/attribute")}
        assert {c.name for c in spec.columns} <= shipped
        keys = {k.findtext("LogicalName") for k in ent.iter("EntityKey")}
        assert {k for k, _ in spec.keys} == keys
    lookups = {(r.findtext("ReferencingEntityName").lower(), r.findtext("ReferencingAttributeName"))
               for r in cust.iter("EntityRelationship")}
    for table in load_tables().values():
        for attr in table.attributes.values():
            shipped_by_us = table.custom or attr.logical_name.startswith("cspb_")
            if attr.type == "lookup" and shipped_by_us:
                assert (table.logical_name, attr.logical_name) in lookups
    steps = {(s.findtext("PrimaryEntity"), s.get("Name")) for s in cust.iter("SdkMessageProcessingStep")}
    assert steps == {(s.entity, s.name) for s in STEPS}
    endpoint = cust.find("ServiceEndpoints/ServiceEndpoint")
    assert endpoint.findtext("Contract") == "8" and endpoint.findtext("MessageFormat") == "2"
    assert [lang.text for lang in cust.iter("Language")] == ["1033", "3082"]


def test_every_label_is_in_english_and_spanish(unmanaged):
    missing = []
    for name in unmanaged.namelist():
        if not name.endswith(".xml"):
            continue
        root = _xml(unmanaged, name)
        for parent in root.iter():
            langs = defaultdict(set)
            for child in parent:
                if child.get("languagecode"):
                    langs[child.tag].add(child.get("languagecode"))
            for tag, codes in langs.items():
                if codes != {"1033", "3082"}:
                    missing.append((name, parent.tag, tag, sorted(codes)))
                texts = [c.get("description") for c in parent if c.tag == tag]
                if not all(texts):
                    missing.append((name, parent.tag, tag, "empty label"))
    assert not missing, missing[:10]


def test_web_resources_are_shipped(tmp_path: Path):
    src = _copy_without_web_resources(tmp_path)
    help_dir = src / "WebResources" / "training"
    help_dir.mkdir(parents=True)
    (help_dir / "sales_rep.html").write_text("<html><body>Hola</body></html>", encoding="utf-8")
    (help_dir / "notes.md").write_text("not a web resource type", encoding="utf-8")
    zf = zipfile.ZipFile(io.BytesIO(packer.build_zip(src)))
    assert zf.read("WebResources/training/sales_rep.html").startswith(b"<html>")
    resources = list(_xml(zf, "customizations.xml").iter("WebResource"))
    assert [(r.findtext("Name"), r.findtext("WebResourceType"), r.findtext("FileName")) for r in resources] == [
        ("cspb_/training/sales_rep.html", "1", "/WebResources/training/sales_rep.html")]
    roots = {r.get("schemaName") for r in _xml(zf, "solution.xml").iter("RootComponent") if r.get("type") == "61"}
    assert roots == {"cspb_/training/sales_rep.html"}
    assert "html" in {d.get("Extension") for d in _xml(zf, "[Content_Types].xml")}


def test_web_resource_in_packager_form_keeps_its_metadata(tmp_path: Path):
    src = _copy_without_web_resources(tmp_path)
    folder = src / "WebResources" / "cspb_" / "training"
    folder.mkdir(parents=True)
    (folder / "billing_admin.js").write_text("// help", encoding="utf-8")
    (folder / "billing_admin.js.data.xml").write_text(
        "<WebResource><Name>cspb_/training/billing_admin.js</Name><WebResourceType>3</WebResourceType>"
        "<FileName>/WebResources/cspb_/training/billing_admin.js</FileName></WebResource>", encoding="utf-8")
    zf = zipfile.ZipFile(io.BytesIO(packer.build_zip(src)))
    assert zf.read("WebResources/cspb_/training/billing_admin.js") == b"// help"
    [resource] = _xml(zf, "customizations.xml").iter("WebResource")
    assert resource.findtext("Name") == "cspb_/training/billing_admin.js"
    assert not any(n.endswith(".data.xml") for n in zf.namelist())


def test_pack_is_deterministic_and_cli_writes_the_zip(tmp_path: Path):
    assert packer.build_zip() == packer.build_zip()
    out = tmp_path / "out" / "CSPBridge_managed.zip"
    result = CliRunner().invoke(solution_cli, ["pack", "--managed", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "managed" in result.output
    with zipfile.ZipFile(out) as zf:
        assert _xml(zf, "solution.xml").findtext("SolutionManifest/Managed") == "1"
    check = CliRunner().invoke(solution_cli, ["generate", "--check"])
    assert check.exit_code == 0, check.output


def test_custom_tables_ship_a_main_form_and_system_views(unmanaged):
    cust = _xml(unmanaged, "customizations.xml")
    for entity in cust.find("Entities"):
        spec = next(t for t in ALL if t.schema_name == entity.findtext("Name"))
        forms = entity.findall("FormXml/forms")
        views = entity.findall("SavedQueries/savedqueries/savedquery")
        if not spec.custom:
            # Our "CSPBridge" form beside the platform's on a few standard tables; never their views.
            assert not views and (not forms or spec.logical_name in STANDARD_FORMS)
            continue
        [main] = forms
        assert main.get("type") == "main"
        on_form = {c.get("datafieldname") for c in main.iter("control") if c.get("datafieldname")}
        assert on_form == {c.name for c in spec.columns}
        extra = sum(1 for v in VIEWS if v.table == spec.logical_name)  # spec-declared public views
        assert sorted(v.findtext("querytype") for v in views) == ["0"] * (1 + extra) + ["4", "64"]
        for view in views:
            fetched = {a.get("name") for a in view.iter("attribute")}
            shown = {c.get("name") for c in view.iter("cell")}
            assert shown <= fetched and f"{spec.logical_name}id" in fetched


def test_version_override(tmp_path: Path):
    zf = zipfile.ZipFile(io.BytesIO(packer.build_zip(version="1.2.0.7")))
    assert _xml(zf, "solution.xml").findtext("SolutionManifest/Version") == "1.2.0.7"
    result = CliRunner().invoke(solution_cli, ["pack", "--version", "one", "--out", str(tmp_path / "x.zip")])
    assert result.exit_code != 0 and "1.2.3.4" in result.output


def test_security_roles_grant_only_existing_custom_tables(unmanaged):
    cust = _xml(unmanaged, "customizations.xml")
    roles = {r.get("name"): r for r in cust.findall("Roles/Role")}
    assert set(roles) == {"CSPBridge Integration", "CSPBridge Billing Admin", "CSPBridge Sales Rep"}
    custom = {t.logical_name for t in ALL if t.custom}
    verbs = ("Create", "Read", "Write", "Delete", "AppendTo", "Append")
    for role in roles.values():
        for privilege in role.iter("RolePrivilege"):
            name = privilege.get("name")
            verb = next(v for v in verbs if name.startswith(f"prv{v}") and name[3 + len(v):] in custom)
            assert verb and privilege.get("level") == "Global"
    names = {p.get("name") for p in roles["CSPBridge Sales Rep"].iter("RolePrivilege")}
    assert "prvWritecspb_subscription" in names and "prvWritecspb_billingcontract" not in names
    assert not any(n.startswith("prvDelete") for n in names)
    root_ids = {r.get("id") for r in _xml(unmanaged, "solution.xml").iter("RootComponent") if r.get("type") == "20"}
    assert root_ids == {r.get("id") for r in roles.values()}
