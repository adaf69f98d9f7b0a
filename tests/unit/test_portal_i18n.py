import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from portal.i18n import Translator, all_keys, catalog, missing_keys, pick_language

PORTAL = Path(__file__).resolve().parents[2] / "portal"
KEY_RE = re.compile(r"""_\(\s*["']([a-z_]+\.[A-Za-z0-9_.]+)["']""")
REFUSAL_RE = re.compile(r"""(?:Refused|flash)\(\s*["']([a-z_]+\.[A-Za-z0-9_.]+)["']""")
DYNAMIC = {"role.": range(1, 4), "status.": range(1, 7), "changetype.": range(1, 9), "provisioning.": range(1, 6),
           "origin.": range(1, 5), "payment.": range(1, 5)}
PREFIXES = tuple(sorted({k.split(".")[0] + "." for k in catalog("en")}))


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in list(PORTAL.rglob("*.html")) + list(PORTAL.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        keys |= set(KEY_RE.findall(text)) | set(REFUSAL_RE.findall(text))
    for prefix, values in DYNAMIC.items():
        keys |= {f"{prefix}{v}" for v in values}
    keys |= {f"term.{t}" for t in ("P1M", "P1Y", "P3Y")} | {f"billing.{t}" for t in ("P1M", "P1Y", "P3Y")}
    return keys


def test_every_used_key_is_in_the_english_catalog():
    assert used_keys() - all_keys() == set()


def test_spanish_catalog_is_complete_and_actually_translated():
    assert missing_keys("es") == set()
    en, es = catalog("en"), catalog("es")
    same = {k for k in en if en[k] == es[k]}
    # names and loanwords that are the same in both languages
    assert same <= {"app.title", "lang.en", "lang.es", "invoice.total", "origin.2"}


def test_placeholders_match_between_languages():
    en, es = catalog("en"), catalog("es")
    for key in en:
        assert set(re.findall(r"{(\w+)}", en[key])) == set(re.findall(r"{(\w+)}", es[key])), key


def test_babel_formats_per_locale():
    es, en = Translator("es"), Translator("en")
    assert es.money(Decimal("1234.5"), "EUR") == "1.234,50\xa0€"
    assert en.money(Decimal("1234.5"), "USD") == "$1,234.50"
    assert es.money(Decimal("1234"), "JPY") == "1.234\xa0JPY"  # no minor unit
    assert es.date(date(2026, 11, 25)) == "25 nov 2026"
    assert en.number(12345) == "12,345"
    assert es.percent(Decimal("17.6")) == "17,6\xa0%"


@pytest.mark.parametrize("header,expected", [("es-ES,es;q=0.9", "es"), ("fr-FR,en;q=0.5", "en"), ("", "en")])
def test_language_negotiation(header, expected):
    assert pick_language(None, accept_language=header) == expected
    assert pick_language("es", accept_language="en") == "es"


@pytest.mark.parametrize("contact,paths", [
    ("c-admin", ["/", "/subscriptions", "/subscriptions/s-m365", "/subscriptions/s-teams", "/invoices",
                 "/invoices/i-1", "/invoices/i-1/download?format=html", "/shop", "/agreement", "/payment", "/guides",
                 "/guides/getting-started", "/guides/seats", "/guides/billing", "/nope"]),
    ("__partner__", ["/admin/assessment", "/subscriptions"]),
])
def test_spanish_pages_show_no_untranslated_keys(portal_browser, contact, paths):
    portal_browser.get("/lang/es?next=/portal/signin")
    signin = portal_browser.get("/signin").get_data(as_text=True)
    portal_browser.sign_in(contact)
    # a seat change and a refusal put flash messages on the page too
    if contact == "c-admin":
        portal_browser.post("/subscriptions/s-teams/seats", {"quantity": "0"})
    key_like = re.compile(r"\b(?:{})[A-Za-z0-9_.]+\b".format("|".join(re.escape(p) for p in PREFIXES)))
    for path in paths:
        html = portal_browser.get(path).get_data(as_text=True)
        text = re.sub(r"<[^>]+>", " ", html)
        assert 'lang="es"' in html or "/download" in path, path
        assert not key_like.findall(text), (path, key_like.findall(text))
    assert "Iniciar sesión" in signin


def test_invitation_email_in_spanish():
    from portal.emails import invitation
    from portal.seed import seeded_repository

    contact = seeded_repository().contacts["f-admin"]
    mail = invitation(contact, "Fabrikam SA", "https://cspb.example/api/portal/", "es", "Contoso Partners")
    assert mail.to == "fabio@fabrikam.example"
    assert mail.subject == "Su acceso al portal de clientes de Contoso Partners"
    assert "como Administrador" in mail.text and 'lang="es"' in mail.html
    assert 'href="https://cspb.example/api/portal/"' in mail.html
    assert "Hello" in invitation(contact, "Fabrikam SA", "https://x/", "en").text
