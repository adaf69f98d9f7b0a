import io
import xml.etree.ElementTree as ET
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from portal.guides import PORTAL_GUIDES, portal_guide

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "solution" / "src" / "WebResources" / "cspb_" / "guides"
ROLES = ("sales_rep", "billing_admin", "tenant_admin")


class _Outline(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.lang = ""

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "li"):
            self.tags.append(tag)
        if tag == "html":
            self.lang = dict(attrs).get("lang", "")


def outline(text: str) -> _Outline:
    parser = _Outline()
    parser.feed(text)
    return parser


@pytest.mark.parametrize("role", ROLES)
def test_role_guides_exist_in_both_languages_with_the_same_outline(role):
    en = outline((WEB / "en" / f"{role}.html").read_text(encoding="utf-8"))
    es = outline((WEB / "es" / f"{role}.html").read_text(encoding="utf-8"))
    assert (en.lang, es.lang) == ("en", "es")
    assert en.tags == es.tags and en.tags.count("h2") >= 3


@pytest.mark.parametrize("lang", ["en", "es"])
@pytest.mark.parametrize("role", ROLES)
def test_web_resource_metadata_matches_the_file(role, lang):
    meta = ET.parse(WEB / lang / f"{role}.html.data.xml").getroot()
    name = f"cspb_/guides/{lang}/{role}.html"
    assert meta.findtext("Name") == name
    assert meta.findtext("FileName") == f"/WebResources/{name}"
    assert meta.findtext("WebResourceType") == "1"
    assert meta.findtext("LanguageCode") == {"en": "1033", "es": "3082"}[lang]


def test_packed_solution_ships_the_guides():
    from solution.pack import build_zip

    names = zipfile.ZipFile(io.BytesIO(build_zip())).namelist()
    for lang in ("en", "es"):
        for role in ROLES:
            assert f"WebResources/cspb_/guides/{lang}/{role}.html" in names


@pytest.mark.parametrize("name", list(PORTAL_GUIDES))
def test_portal_guides_for_customer_admins_in_both_languages(name):
    en, es = portal_guide(name, "en"), portal_guide(name, "es")
    assert en.html != es.html
    assert outline(en.html).tags == outline(es.html).tags


def test_each_portal_role_sees_the_guides_for_its_role():
    from dataverse.tables import PortalRole
    from portal.guides import portal_guides

    def names(role):
        return [g.name for g in portal_guides("en", role)]

    assert names(PortalRole.ADMINISTRATOR) == ["getting-started", "seats", "billing"]
    assert names(PortalRole.SUBSCRIPTION_MANAGER) == ["getting-started", "seats"]
    assert names(PortalRole.FINANCE_MANAGER) == ["getting-started", "billing"]
    assert portal_guide("billing", "es", PortalRole.SUBSCRIPTION_MANAGER) is None
