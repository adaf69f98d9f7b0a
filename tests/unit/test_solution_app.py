"""The packed solution carries the CSPBridge model-driven app: its sitemap areas, the role map, forms with
subgrids and help, commands that point at web resources that exist, and role guides in both languages."""

from __future__ import annotations

import io
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest

from solution.app import APP_UNIQUE_NAME
from solution.pack import build_zip
from solution.roles import ROLES

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def packed():
    z = zipfile.ZipFile(io.BytesIO(build_zip(managed=True)))
    return z, ET.fromstring(z.read("customizations.xml")), ET.fromstring(z.read("solution.xml"))


def test_the_app_and_its_sitemap_are_root_components(packed):
    _, cust, manifest = packed
    roots = {(r.get("type"), r.get("schemaName")) for r in manifest.iter("RootComponent")}
    assert ("80", APP_UNIQUE_NAME) in roots and ("62", APP_UNIQUE_NAME) in roots
    [app] = cust.findall("AppModules/AppModule")
    assert app.findtext("UniqueName") == APP_UNIQUE_NAME
    components = {(c.get("type"), c.get("schemaName")) for c in app.iter("AppModuleComponent")}
    assert ("62", APP_UNIQUE_NAME) in components and ("1", "cspb_subscription") in components
    assert {r.get("id") for r in app.iter("Role")} == {"{" + r.id + "}" for r in ROLES}


def test_the_sitemap_has_the_areas_reps_and_admins_work_in(packed):
    _, cust, _ = packed
    site = cust.find("AppModuleSiteMaps/AppModuleSiteMap/SiteMap")
    areas = {a.get("Id"): a for a in site.findall("Area")}
    assert list(areas) == ["cspb_customers", "cspb_subscriptions", "cspb_billing", "cspb_operations", "cspb_training"]
    entities = {s.get("Entity") for s in site.iter("SubArea") if s.get("Entity")}
    assert {"account", "contact", "cspb_agreement", "cspb_subscription", "cspb_licensechangelog",
            "cspb_provideraccount", "cspb_billingcontract", "invoice", "cspb_usagesummary", "cspb_revenueschedule",
            "cspb_exchangerate", "cspb_taxrate", "cspb_inbox", "cspb_syncrun", "cspb_reconfile"} <= entities
    urls = [s.get("Url") for s in site.iter("SubArea") if s.get("Url")]
    assert any("etn=cspb_provideraccount" in u and "viewid" in u for u in urls)  # the Unmapped view
    titles = {t.get("LCID") for t in areas["cspb_training"].iter("Title")}
    assert titles == {"1033", "3082"}


def test_training_guides_exist_for_each_role_in_both_languages(packed):
    z, cust, _ = packed
    names = {w.findtext("Name") for w in cust.iter("WebResource")}
    for lang in ("en", "es"):
        for role in ("sales_rep", "billing_admin", "tenant_admin"):
            assert f"cspb_/guides/{lang}/{role}.html" in names
    site = cust.find("AppModuleSiteMaps/AppModuleSiteMap/SiteMap")
    for sub in site.find("Area[@Id='cspb_training']").iter("SubArea"):
        assert sub.get("Url", "").removeprefix("$webresource:") in names


def test_forms_have_subgrids_help_and_the_subscription_rules(packed):
    _, cust, _ = packed
    forms = {e.findtext("Name"): e for e in cust.find("Entities")}
    sub_form = forms["cspb_Subscription"].find("FormXml/forms/systemform/form")
    grids = {c.find("parameters/TargetEntityType").text: c.find("parameters/RelationshipName").text
             for c in sub_form.iter("control") if c.get("indicationOfSubgrid") == "true"}
    assert grids["cspb_licensechangelog"] == "cspb_cspb_licensechangelog_cspb_subscription"
    handlers = {h.get("functionName") for h in sub_form.iter("Handler")}
    assert handlers == {"CSPBridge.SubscriptionForm.onLoad", "CSPBridge.SubscriptionForm.onSave"}
    account = forms["Account"].find("FormXml/forms/systemform/form")
    targets = {c.find("parameters/TargetEntityType").text for c in account.iter("control")
               if c.get("indicationOfSubgrid") == "true"}
    assert targets == {"cspb_provideraccount", "cspb_billingcontract", "cspb_agreement"}
    contract = forms["cspb_BillingContract"].find("FormXml/forms/systemform/form")
    assert {c.find("parameters/TargetEntityType").text for c in contract.iter("control")
            if c.get("indicationOfSubgrid") == "true"} == {"cspb_subscription", "invoice"}
    # Every relationship a subgrid names exists in the solution.
    relationships = {r.get("Name") for r in cust.iter("EntityRelationship")}
    for entity in forms.values():
        for c in entity.iter("control"):
            if c.get("indicationOfSubgrid") == "true":
                assert c.find("parameters/RelationshipName").text in relationships


def test_commands_call_functions_of_web_resources_that_ship(packed):
    z, cust, _ = packed
    names = {w.findtext("Name") for w in cust.iter("WebResource")}
    found = {}
    for entity in cust.find("Entities"):
        for js in entity.iter("JavaScriptFunction"):
            library = js.get("Library").removeprefix("$webresource:")
            assert library in names
            source = z.read(f"WebResources/{library}").decode()
            function = js.get("FunctionName").rsplit(".", 1)[-1]
            assert f"{function}:" in source
            found[entity.findtext("Name")] = js.get("FunctionName")
    assert found == {"cspb_Subscription": "CSPBridge.Commands.previewCharge",
                     "cspb_LicenseChangeLog": "CSPBridge.Commands.retryProvisioning",
                     "cspb_Inbox": "CSPBridge.Commands.replayInbox", "Account": "CSPBridge.Commands.attestMca"}


@pytest.mark.skipif(shutil.which("node") is None, reason="node is installed by .ci/run")
def test_the_web_resources_pass_their_node_tests():
    result = subprocess.run(["node", "--test", "tests/js/"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
