"""Spec-declared views: "Unmapped Provider Accounts" (cspb_mappingstatus = 2) ships in English and
Spanish, in the generated source and in the packed customizations.xml."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile

import pytest

from dataverse.stores.provider_accounts import UNMAPPED_VIEW_NAME
from solution import forms, generate
from solution import pack as packer
from solution.spec import ALL, VIEWS, ViewSpec


def _unmapped_view() -> ET.Element:
    table = next(t for t in ALL if t.logical_name == "cspb_provideraccount")
    spec = next(v for v in VIEWS if v.key == "unmapped")
    return forms.extra_view(table, spec).find("savedquery")


def test_unmapped_provider_accounts_view_filters_on_mapping_status_unmapped() -> None:
    view = _unmapped_view()
    names = {n.get("languagecode"): n.get("description") for n in view.iter("LocalizedName")}
    assert names == {"1033": "Unmapped Provider Accounts", "3082": "Cuentas de proveedor sin asignar"}
    assert names["1033"] == UNMAPPED_VIEW_NAME  # the name billing_block_reason points admins to
    conditions = {(c.get("attribute"), c.get("operator"), c.get("value")) for c in view.iter("condition")}
    assert ("cspb_mappingstatus", "eq", "2") in conditions and ("statecode", "eq", "0") in conditions
    assert view.findtext("querytype") == "0" and view.findtext("isdefault") == "0"
    shown = [c.get("name") for c in view.iter("cell")]
    assert {"cspb_name", "cspb_provider", "cspb_externalid", "cspb_domain"} <= set(shown)
    assert set(shown) <= {a.get("name") for a in view.iter("attribute")}


def test_the_view_is_in_the_generated_source_and_the_package() -> None:
    view_id = _unmapped_view().findtext("savedqueryid")
    path = generate.SRC / "Entities" / "cspb_ProviderAccount" / "SavedQueries" / f"{view_id}.xml"
    assert path.exists(), "run `python -m solution.generate`"
    with zipfile.ZipFile(io.BytesIO(packer.build_zip())) as zf:
        cust = ET.fromstring(zf.read("customizations.xml"))
    packed = {q.findtext("savedqueryid") for q in cust.iter("savedquery")}
    assert view_id in packed


def test_a_view_naming_an_unknown_column_is_refused() -> None:
    table = next(t for t in ALL if t.logical_name == "cspb_provideraccount")
    with pytest.raises(ValueError, match="unknown columns"):
        forms.extra_view(table, ViewSpec(table.logical_name, "bad", ("Bad", "Mala"), ("cspb_nope",), ()))
