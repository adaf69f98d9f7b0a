"""Portal polish from a first-time user's hour: MCA in both wirings, provider errors in Spanish,
term/billing as words, the home page's balance and subscriptions."""

from __future__ import annotations

import inspect

from portal.seed import seeded_repository
from portal.wiring import integrations_for, memory_portal
from shared.config import get_settings
from shared.errors import FatalError
from tests.plugins.portal import PortalBrowser


def _memory_browser(repo=None, **options):
    from dataclasses import replace

    settings = replace(get_settings(), portal_base_url="http://127.0.0.1:7110/portal")
    repo = repo or seeded_repository()
    return PortalBrowser(memory_portal(settings, repo, **options)), repo


def test_memory_portal_accepts_the_mca_without_500():
    browser, repo = _memory_browser()
    browser.sign_in("c-admin")
    r = browser.post("/agreement", {"accept": "yes"})
    assert r.status_code == 302
    page = browser.get("/agreement").get_data(as_text=True)
    assert "Accepted on" in page
    assert repo.agreements["acc-contoso"].contact_id == "c-admin"


def test_dataverse_wiring_takes_the_arguments_the_portal_passes():
    # The same keyword call services.accept_mca makes must bind to the Dataverse attest as well.
    attest = integrations_for(object(), get_settings()).mca()
    inspect.signature(attest).bind(account_id="a", contact_id="c", email="e", first_name="f", last_name="l")


def test_a_refused_attestation_is_shown_translated_with_the_providers_reason():
    from types import SimpleNamespace

    from portal.services import Integrations

    def refuse(**_kw):
        return SimpleNamespace(status="Failed", message="Partner Center refused the attestation: bad email")

    browser, _repo = _memory_browser(integrations=Integrations(attest_mca=refuse))
    browser.get("/lang/es")
    browser.sign_in("f-admin")
    browser.post("/agreement", {"accept": "yes"})
    page = browser.get("/agreement").get_data(as_text=True)
    assert "No se pudo registrar el Contrato" in page and "bad email" in page


def test_provider_error_inside_a_spanish_page_is_translated_with_detail():
    from portal.services import Integrations

    def broken(**_kw):
        raise FatalError("Partner Center answered 400: customer not found")

    browser, _repo = _memory_browser(integrations=Integrations(attest_mca=broken))
    browser.sign_in("f-admin")  # Fabrikam invoices in Spanish
    r = browser.post("/agreement", {"accept": "yes"})
    page = r.get_data(as_text=True)
    assert r.status_code == 502
    assert "Un servicio del que dependemos" in page
    assert "Respuesta del proveedor: Partner Center answered 400: customer not found" in page
    assert "Something went wrong" not in page


def test_terms_read_as_words_in_both_languages():
    browser, repo = _memory_browser()
    repo.record_attestation("acc-contoso", "c-admin")
    browser.sign_in("c-admin")
    shop = browser.get("/shop").get_data(as_text=True)
    assert "1 year, billed monthly" in shop and "1 month, billed monthly" in shop
    assert "P1Y monthly" not in shop and "P1M monthly" not in shop
    home = browser.get("/").get_data(as_text=True)
    assert "1 year, billed annually" in home and "P1Y" not in home
    es, _ = _memory_browser()
    es.sign_in("f-admin")
    assert "1 año, facturación mensual" in es.get("/").get_data(as_text=True)
    shop_es = es.get("/shop").get_data(as_text=True)
    assert "1 año, facturación anual" in shop_es and "P1Y annual" not in shop_es


def test_home_shows_balance_due_and_subscriptions_by_name():
    browser, _repo = _memory_browser()
    browser.sign_in("f-admin")
    home = browser.get("/").get_data(as_text=True)
    assert "Saldo pendiente: 1.428,00" in home and "Microsoft 365 E3" in home
    contoso, _ = _memory_browser()
    contoso.sign_in("c-admin")
    home = contoso.get("/").get_data(as_text=True)
    assert "Nothing is due" in home
    assert "Microsoft 365 Business Premium" in home and "Microsoft Teams Essentials" in home
