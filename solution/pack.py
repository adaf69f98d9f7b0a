"""Pack the unpacked solution source (solution/src) into an importable solution zip, the way
SolutionPackager's /action:Pack does: the component files are folded back into customizations.xml,
Other/Solution.xml becomes solution.xml, and folder components (environment variables, web
resources) are copied. https://learn.microsoft.com/power-platform/alm/solution-packager-tool

Web resources: any file under src/WebResources/ is shipped. A `<file>.data.xml` next to it (the
SolutionPackager form) supplies its <WebResource> metadata; without one, the metadata is derived
from the path (name `cspb_/<path>`, type from the extension).
"""

from __future__ import annotations

import io
import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

from solution.entity_xml import XSI
from solution.ids import stable_id

log = logging.getLogger(__name__)

SRC = Path(__file__).resolve().parent / "src"
# Fixed timestamp so the same source always packs to the same bytes.
_ZIP_TIME = (2024, 1, 1, 0, 0, 0)
# Dataverse webresourcetype option values by file extension.
WEB_RESOURCE_TYPES = {
    ".htm": 1, ".html": 1, ".css": 2, ".js": 3, ".xml": 4, ".png": 5, ".jpg": 6, ".jpeg": 6,
    ".gif": 7, ".xap": 8, ".xsl": 9, ".xslt": 9, ".ico": 10, ".svg": 11, ".resx": 12,
}
# The children of <ImportExportXml>, in the order CustomizationsSolution.xsd requires.
EXPORT_ORDER = (
    "Entities", "Roles", "Workflows", "FieldSecurityProfiles", "Templates", "RibbonDiffXml", "IsvConfig",
    "RelationshipRoles", "ConnectionRoles", "SiteMap", "EntityMaps", "EntityRelationships", "OrganizationSettings",
    "optionsets", "Reports", "RoutingRules", "ChannelPropertyGroups", "ConvertRules", "MobileOfflineProfiles", "Slas",
    "ChannelAccessProfiles", "ChannelAccessProfileRules", "Dashboards", "InteractionCentricDashboards", "Dialogs",
    "WebResources", "CustomControls", "SolutionPluginAssemblies", "SdkMessageProcessingSteps", "ServiceEndpoints",
    "AppModuleSiteMaps", "AppModules", "EntityDataProviders", "EntityDataSources", "Languages",
    "GlobalSearchConfigurations", "StoredProcedures",
)

ET.register_namespace("xsi", XSI)


def _xml(data: bytes) -> bytes:
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + data + b"\n"


def _doc(root: ET.Element) -> bytes:
    ET.indent(root, space="  ")
    return _xml(ET.tostring(root, encoding="utf-8", xml_declaration=False))


def _rank(tag: str) -> int:
    return EXPORT_ORDER.index(tag) if tag in EXPORT_ORDER else len(EXPORT_ORDER)


def _section(root: ET.Element, tag: str) -> ET.Element:
    """The root's `tag` child, created where the schema's order puts it."""
    found = root.find(tag)
    if found is None:
        found = ET.Element(tag)
        later = next((i for i, child in enumerate(root) if _rank(child.tag) > _rank(tag)), len(root))
        root.insert(later, found)
    return found


def _web_resources(src: Path) -> list[tuple[str, Path, ET.Element]]:
    """(zip path, file, <WebResource>) for every shippable file under WebResources/."""
    base = src / "WebResources"
    if not base.is_dir():
        return []
    out = []
    for path in sorted(p for p in base.rglob("*") if p.is_file()):
        if path.name.endswith(".data.xml"):
            continue
        rel = path.relative_to(base).as_posix()
        data_xml = path.with_name(path.name + ".data.xml")
        if data_xml.exists():
            meta = ET.parse(data_xml).getroot()
            file_name = meta.findtext("FileName") or f"/WebResources/{rel}"
            zip_path = file_name.lstrip("/")
        else:
            kind = WEB_RESOURCE_TYPES.get(path.suffix.lower())
            if kind is None:
                log.warning("not a Dataverse web resource type, left out of the solution: %s", rel)
                continue
            zip_path = f"WebResources/{rel}"
            meta = ET.Element("WebResource")
            for tag, text in (
                ("WebResourceId", "{" + stable_id(f"webresource:{rel}") + "}"),
                ("Name", rel if rel.startswith("cspb_") else f"cspb_/{rel}"),
                ("DisplayName", rel),
                ("WebResourceType", str(kind)),
                ("IntroducedVersion", "1.0.0.0"),
                ("IsEnabledForMobileClient", "0"),
                ("IsAvailableForMobileOffline", "0"),
                ("IsCustomizable", "1"),
                ("CanBeDeleted", "1"),
                ("IsHidden", "0"),
                ("FileName", f"/{zip_path}"),
            ):
                ET.SubElement(meta, tag).text = text
        out.append((zip_path, path, meta))
    return out


def _entity_with_forms_and_views(entity_xml: Path) -> ET.Element:
    """Entity.xml plus its FormXml/<type>/*.xml and SavedQueries/*.xml files, as an export nests them."""
    entity = ET.parse(entity_xml).getroot()
    folder = entity_xml.parent
    form_xml = entity.find("FormXml")
    form_types = sorted(p for p in (folder / "FormXml").glob("*") if p.is_dir())
    if form_xml is not None and form_types:
        for type_dir in form_types:
            forms = ET.SubElement(form_xml, "forms", type=type_dir.name)
            for path in sorted(type_dir.glob("*.xml")):
                forms.extend(ET.parse(path).getroot().findall("systemform"))
    queries = entity.find("SavedQueries")
    views = sorted((folder / "SavedQueries").glob("*.xml"))
    if queries is not None:
        # The schema wants <SavedQueries><savedqueries/></SavedQueries>, even with no views.
        box = ET.SubElement(queries, "savedqueries")
        for path in views:
            box.extend(ET.parse(path).getroot().findall("savedquery"))
    return entity


def customizations(src: Path, web_resources: list[tuple[str, Path, ET.Element]]) -> ET.Element:
    root = ET.parse(src / "Other" / "Customizations.xml").getroot()
    entities = _section(root, "Entities")
    for path in sorted(src.glob("Entities/*/Entity.xml")):
        entities.append(_entity_with_forms_and_views(path))
    relationships = _section(root, "EntityRelationships")
    for path in sorted((src / "Other" / "Relationships").glob("*.xml")):
        relationships.extend(ET.parse(path).getroot().findall("EntityRelationship"))
    role_files = sorted(src.glob("Roles/*.xml"))
    if role_files:
        _section(root, "Roles").extend(ET.parse(path).getroot() for path in role_files)
    endpoints_file = src / "PluginAssemblies" / "ServiceEndpoints.xml"
    if endpoints_file.exists():
        _section(root, "ServiceEndpoints").extend(ET.parse(endpoints_file).getroot().findall("ServiceEndpoint"))
    steps = sorted(src.glob("SdkMessageProcessingSteps/*.xml"))
    if steps:
        box = _section(root, "SdkMessageProcessingSteps")
        for path in steps:
            box.append(ET.parse(path).getroot())
    site_maps = sorted(src.glob("AppModuleSiteMaps/*/AppModuleSiteMap.xml"))
    if site_maps:
        _section(root, "AppModuleSiteMaps").extend(ET.parse(path).getroot() for path in site_maps)
    apps = sorted(src.glob("AppModules/*/AppModule.xml"))
    if apps:
        _section(root, "AppModules").extend(ET.parse(path).getroot() for path in apps)
    if web_resources:
        box = _section(root, "WebResources")
        for _zip_path, _file, meta in web_resources:
            box.append(meta)
    return root


_VERSION = re.compile(r"^\d+\.\d+(\.\d+){0,2}$")


def solution_manifest(src: Path, *, managed: bool, web_resources: list[tuple[str, Path, ET.Element]],
                      version: str | None = None) -> ET.Element:
    root = ET.parse(src / "Other" / "Solution.xml").getroot()
    manifest = root.find("SolutionManifest")
    if manifest is None:
        raise ValueError("Other/Solution.xml has no SolutionManifest")
    if version is not None:
        # Dataverse only imports an upgrade whose version is higher than the installed one.
        if not _VERSION.match(version):
            raise ValueError(f"solution version must look like 1.2.3.4, got {version!r}")
        version_el = manifest.find("Version")
        if version_el is None:
            version_el = ET.SubElement(manifest, "Version")
        version_el.text = version
    managed_el = manifest.find("Managed")
    if managed_el is None:
        managed_el = ET.SubElement(manifest, "Managed")
    managed_el.text = "1" if managed else "0"
    roots = manifest.find("RootComponents")
    if roots is not None:
        for _zip_path, _file, meta in web_resources:
            ET.SubElement(roots, "RootComponent", type="61", schemaName=meta.findtext("Name", ""), behavior="0")
        # The app (80) and its sitemap (62) are root components keyed by their unique names.
        for path in sorted(src.glob("AppModuleSiteMaps/*/AppModuleSiteMap.xml")):
            ET.SubElement(roots, "RootComponent", type="62", schemaName=path.parent.name, behavior="0")
        for path in sorted(src.glob("AppModules/*/AppModule.xml")):
            ET.SubElement(roots, "RootComponent", type="80", schemaName=path.parent.name, behavior="0")
    return root


def content_types(names: list[str]) -> bytes:
    root = ET.Element("Types", xmlns="http://schemas.openxmlformats.org/package/2006/content-types")
    extensions = sorted({Path(n).suffix.lstrip(".").lower() for n in names if Path(n).suffix} | {"xml"})
    for ext in extensions:
        ET.SubElement(root, "Default", Extension=ext, ContentType="application/octet-stream")
    return _doc(root)


def build_zip(src_dir: Path | None = None, *, managed: bool = False, version: str | None = None) -> bytes:
    """The solution zip as bytes; `version` overrides the one in Other/Solution.xml."""
    src = (src_dir or SRC).resolve()
    web = _web_resources(src)
    files: dict[str, bytes] = {
        "solution.xml": _doc(solution_manifest(src, managed=managed, web_resources=web, version=version)),
        "customizations.xml": _doc(customizations(src, web)),
    }
    for path in sorted(src.glob("environmentvariabledefinitions/*/*")):
        if path.is_file():
            files[path.relative_to(src).as_posix()] = path.read_bytes()
    for zip_path, path, _meta in web:
        files[zip_path] = path.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        entries = {"[Content_Types].xml": content_types(list(files)), **files}
        for name, data in entries.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def pack(out: Path | None = None, *, managed: bool = False, src_dir: Path | None = None,
         version: str | None = None) -> Path:
    """Write the zip; the default name follows the export convention CSPBridge_1_0_0_0[_managed].zip."""
    data = build_zip(src_dir, managed=managed, version=version)
    if out is None:
        shown = version or ET.parse((src_dir or SRC) / "Other" / "Solution.xml").getroot().findtext(
            "SolutionManifest/Version") or "0.0.0.0"
        out = Path("dist") / f"CSPBridge_{shown.replace('.', '_')}{'_managed' if managed else ''}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return out
