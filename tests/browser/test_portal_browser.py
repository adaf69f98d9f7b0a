"""Headless Chromium (Debian's /usr/bin/chromium) clicking through the portal, which runs on
127.0.0.1 against the Dataverse and Partner Center sandboxes."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="/usr/bin/chromium is not installed (CI installs it and never skips)"),
]


@pytest.fixture
def portal_site(dv, portal_mca_app):
    from sandbox._server import RunningServer

    app, ids = portal_mca_app
    with RunningServer(app, 0) as server:
        yield server.url + "/portal", ids, dv


def sign_in(page, base: str, contact_id: str) -> None:
    page.goto(base + "/signin")
    page.select_option("#contact_id", contact_id)
    page.click("#signin-button")


def test_sign_in_change_seats_and_accept_mca(page, portal_site):
    base, ids, dv = portal_site
    sign_in(page, base, ids["c-admin"])
    page.wait_for_url(re.compile(r".*/portal/$"))
    assert "Welcome, Ada Admin" in page.content()

    page.click("text=Subscriptions")
    page.click("text=Microsoft 365 Business Premium")
    page.fill("#new-quantity", "12")
    page.click("#change-seats")
    page.wait_for_selector("text=Seat change from 10 to 12 requested")
    assert page.inner_text("#changes").count("Awaiting") == 1
    (row,) = list(dv.list("cspb_licensechangelogs"))
    assert (row["cspb_origin"], row["cspb_newquantity"]) == (2, 12)

    # quantity 0 is refused by the server even when the browser's min= check is bypassed
    page.eval_on_selector("#new-quantity", "e => e.removeAttribute('min')")
    page.fill("#new-quantity", "0")
    page.click("#change-seats")
    page.wait_for_selector("text=The quantity must be at least 1")

    page.click("text=Agreement")
    page.check("#mca-accept")
    page.click("#mca-submit")
    page.wait_for_selector("#mca-status")
    assert "Accepted on" in page.inner_text("#mca-status")
    assert dv.get("cspb_provideraccounts", ids["pa-acc-contoso"])["cspb_mcaattested"] is True


def test_spanish_pages(page, portal_site):
    base, ids, _dv = portal_site
    page.goto(base + "/lang/es?next=/portal/signin")
    assert page.locator("html").get_attribute("lang") == "es"
    sign_in(page, base, ids["f-admin"])
    page.wait_for_selector("text=Bienvenido/a, Fabio Garcia")
    page.click("text=Suscripciones")
    page.click("text=Microsoft 365 E3")
    body = page.inner_text("main")
    assert "Cambiar el número de licencias" in body and "35,70" in body and "€" in body
    page.click("text=Facturas")
    assert "Saldo pendiente" in page.inner_text("main")
    # nothing on the page looks like an untranslated catalog key
    assert not re.search(r"\b(?:nav|sub|seats|changes|invoice|error|flash)\.[a-z_]+\b", page.inner_text("body"))


def test_other_customers_subscription_is_not_found(page, portal_site):
    base, ids, _dv = portal_site
    sign_in(page, base, ids["c-subs"])
    response = page.goto(f"{base}/subscriptions/{ids['s-fab']}")
    assert response.status == 404
    assert "Microsoft 365 E3" not in page.content()
