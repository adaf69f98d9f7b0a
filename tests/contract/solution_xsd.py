"""Microsoft's solution schema (CustomizationsSolution.xsd 9.0.0.2090), compiled with lxml/libxml2.

The schema was written for .NET's validator. libxml2 refuses a few constructs, so they are patched
while loading, here in the open (the files under samples/solution/xsd stay as published):
PATCHES lists each (file, published text, replacement, why).

Real exports carry elements the 2018 schema does not know. ALLOWED_UNKNOWN names them (each with the
real export it was seen in); validation reports an error at such an element only because the schema
lacks it, so those errors are dropped and every other error counts. The same list must let Microsoft's
real unmanaged export (samples/solution/real-sample) pass.
"""

from __future__ import annotations

import tempfile
from functools import lru_cache
from pathlib import Path

from lxml import etree

from tests.contract.wire import SAMPLES

XSD_DIR = SAMPLES / "solution" / "xsd"
REAL_SAMPLE = SAMPLES / "solution" / "real-sample"

PATCHES: tuple[tuple[str, str, str, str], ...] = (
    ("FormXml.xsd", '(?![cC][rR][mM]_)([A-Za-z0-9])+([_])+([A-Za-z0-9_])*', '([A-Za-z0-9])+([_])+([A-Za-z0-9_])*',
     "a negative lookahead (.NET regex); XSD regexes have none, so the 'not crm_' rule is dropped"),
)
XS = "{http://www.w3.org/2001/XMLSchema}"
# (file, XPath of an element whose content model libxml2 calls non-deterministic (Unique Particle
# Attribution), why). Its content becomes "any elements", which checks less there but nothing wrong.
LOOSEN: tuple[tuple[str, str, str], ...] = (
    ("FormXml.xsd", "//xs:complexType[@name='FormXmlControlType']//xs:element[@name='parameters']",
     "control parameters: one choice lists the same element names in several branches"),
)

# What real exports carry beyond the 2018 schema: element names, and attributes as "element@attribute".
# Calibrated on the real export (9.1.0.13223, generatedBy CrmLive). They are removed from a copy of
# the document before validation, so everything around them is still checked.
ALLOWED_UNKNOWN: dict[str, str] = {
    "AutoNumberFormat": "attribute: autonumber format string (added 2018, after 9.0.0.2090)",
    "IsRetrieveAuditEnabled": "entity: audit of retrieve operations (newer than the schema)",
    "IsRetrieveMultipleAuditEnabled": "entity: audit of retrieve-multiple operations (newer than the schema)",
    "IsSolutionAware": "entity: solution-aware flag (newer than the schema)",
    "IsSearchable": "attribute: Dataverse search flags, newer than the schema",
    "IsFilterable": "attribute: see IsSearchable",
    "IsRetrievable": "attribute: see IsSearchable",
    "IsLocalizable": "attribute: localizable text column flag (newer than the schema)",
    "form@headerdensity": "form: header density of the unified interface (newer than the schema)",
}


@lru_cache(maxsize=1)
def schema() -> etree.XMLSchema:
    tmp = Path(tempfile.mkdtemp(prefix="cspb-xsd-"))
    for path in XSD_DIR.glob("*.xsd"):
        text = path.read_text(encoding="utf-8-sig")
        for name, old, new, _why in PATCHES:
            if name == path.name:
                if old not in text:
                    raise AssertionError(f"XSD patch for {name} no longer applies: {old[:40]!r}")
                text = text.replace(old, new)
        tree = etree.fromstring(text.encode("utf-8"))
        for facet in tree.iter(f"{XS}pattern"):
            value = facet.get("value", "")
            if value.startswith("^") and value.endswith("$"):
                # .NET reads ^...$ as anchors; in XSD they are literal characters and XSD patterns
                # always match the whole value, so dropping them keeps the rule as meant.
                facet.set("value", value[1:-1])
        for name, xpath, _why in LOOSEN:
            if name != path.name:
                continue
            found = tree.xpath(xpath, namespaces={"xs": XS[1:-1]})
            if not found:
                raise AssertionError(f"XSD loosening for {name} no longer applies: {xpath}")
            for element in found:
                for child in list(element):
                    element.remove(child)
                element.attrib.pop("type", None)
                ctype = etree.SubElement(element, f"{XS}complexType")
                seq = etree.SubElement(ctype, f"{XS}sequence")
                etree.SubElement(seq, f"{XS}any", processContents="skip", minOccurs="0", maxOccurs="unbounded")
        (tmp / path.name).write_bytes(etree.tostring(tree, xml_declaration=True, encoding="utf-8"))
    return etree.XMLSchema(etree.parse(str(tmp / "CustomizationsSolution.xsd")))


def validate(xml: bytes | str | Path) -> list[str]:
    """Schema errors in a customizations.xml, after removing the ALLOWED_UNKNOWN parts."""
    if isinstance(xml, Path):
        doc = etree.parse(str(xml))
    else:
        doc = etree.fromstring(xml.encode() if isinstance(xml, str) else xml).getroottree()
    for name in ALLOWED_UNKNOWN:
        element, _, attribute = name.partition("@")
        for node in doc.iter(element):
            if attribute:
                node.attrib.pop(attribute, None)
            else:
                node.getparent().remove(node)
    s = schema()
    if s.validate(doc):
        return []
    return [f"line {e.line}: {e.message}" for e in s.error_log]
