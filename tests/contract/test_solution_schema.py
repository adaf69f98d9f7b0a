"""The packed customizations.xml validates against Microsoft's CustomizationsSolution.xsd (9.0.0.2090)
with lxml; the short allow-list of newer elements (tests/contract/solution_xsd.py) is calibrated on a
real unmanaged export, which passes with the same list."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from tests.contract.solution_xsd import ALLOWED_UNKNOWN, REAL_SAMPLE, validate


def _packed(managed: bool) -> zipfile.ZipFile:
    from solution.pack import build_zip

    return zipfile.ZipFile(io.BytesIO(build_zip(managed=managed)))


def test_the_real_export_passes_with_the_allow_list(uses_sample):
    uses_sample("solution/real-sample/customizations.xml")
    assert validate(REAL_SAMPLE / "customizations.xml") == []
    assert len(ALLOWED_UNKNOWN) <= 12  # short, and every entry says where it comes from
    assert all(reason and reason != "?" for reason in ALLOWED_UNKNOWN.values())


@pytest.mark.parametrize("managed", [False, True])
def test_the_packed_solution_validates(uses_sample, managed):
    uses_sample("solution/xsd/CustomizationsSolution.xsd")
    errors = validate(_packed(managed).read("customizations.xml"))
    assert errors == [], "\n".join(errors[:20])


def test_web_resources_are_root_components_of_type_61(uses_sample):
    uses_sample("solution/xsd/CustomizationsSolution.xsd")
    z = _packed(False)
    resources = [w.findtext("Name") for w in ET.fromstring(z.read("customizations.xml")).iter("WebResource")]
    roots = {r.get("schemaName"): r.get("type") for r in ET.fromstring(z.read("solution.xml")).iter("RootComponent")}
    assert resources and all(roots.get(name) == "61" for name in resources)


@pytest.mark.parametrize("breakage", [
    ("ServiceEndpoint", lambda el: ET.SubElement(el, "Name").__setattr__("text", "x")),
    ("SavedQueries", lambda el: [el.remove(c) for c in list(el)]),
])
def test_the_validator_catches_the_known_defects(uses_sample, breakage):
    """The check bites: a <Name> child in ServiceEndpoint or an empty <SavedQueries/> fails it."""
    uses_sample("solution/xsd/CustomizationsSolution.xsd")
    tag, damage = breakage
    root = ET.fromstring(_packed(False).read("customizations.xml"))
    damage(next(root.iter(tag)))
    assert validate(ET.tostring(root)) != []


def test_sections_out_of_order_fail(uses_sample):
    uses_sample("solution/xsd/CustomizationsSolution.xsd")
    root = ET.fromstring(_packed(False).read("customizations.xml"))
    steps = root.find("SdkMessageProcessingSteps")
    assert steps is not None
    root.remove(steps)
    root.append(steps)  # after Languages: where the packer used to put it
    assert validate(ET.tostring(root)) != []
