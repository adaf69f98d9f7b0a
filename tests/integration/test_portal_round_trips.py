"""Dataverse round trips per portal page, counted at the Dataverse sandbox over real HTTP (issue 15:
at most 2 per page). Counts requests, never times them; `python -m bench portal` does the timing."""

import pytest

from tests.plugins.portal import PortalBrowser

pytestmark = pytest.mark.integration

MAX_ROUND_TRIPS = 2


def _requests(dv_server) -> int:
    return dv_server.app.api.stats["requests"]


def _count(dv_server, browser, path):
    before = _requests(dv_server)
    response = browser.get(path)
    return response, _requests(dv_server) - before


@pytest.fixture
def attested(portal_dv):
    dv, ids = portal_dv
    dv.update("cspb_provideraccounts", ids["pa-acc-contoso"], {"cspb_mcaattested": True})
    return portal_dv


def test_every_customer_page_reads_dataverse_in_at_most_two_round_trips(dv_server, attested, portal_dv_app):
    dv, ids = attested
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["c-admin"])
    pages = {
        "/": ["Microsoft 365 Business Premium", "Microsoft Teams Essentials", "INV-0001", "Contoso Ltd"],
        "/subscriptions": ["Microsoft 365 Business Premium", "Microsoft Teams Essentials"],
        f"/subscriptions/{ids['s-teams']}": ["Microsoft Teams Essentials"],
        "/invoices": ["INV-0001"],
        f"/invoices/{ids['i-1']}": ["INV-0001", "1,464.00"],
        f"/invoices/{ids['i-1']}/download?format=html": ["INV-0001"],
        "/shop": ["Visio Plan 2"],
        f"/shop?contract={ids['k-contoso']}": ["Visio Plan 2"],
        "/agreement": [],
        "/payment": ["BC-1001"],
        "/guides": [],
    }
    counted = {}
    for path, expected in pages.items():
        response, trips = _count(dv_server, browser, path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        for text in expected:
            assert text in html, (path, text)
        counted[path] = trips
    assert all(trips <= MAX_ROUND_TRIPS for trips in counted.values()), counted
    # The pages that show one object's family read it in one $batch, not one request per object.
    assert counted["/"] == 1 and counted[f"/subscriptions/{ids['s-teams']}"] == 1, counted
    assert counted[f"/invoices/{ids['i-1']}"] == 1 and counted["/subscriptions"] == 1, counted


def test_home_page_shows_what_the_one_batch_read(dv_server, attested, portal_dv_app):
    """The home page after the batching still shows the MCA state, the balance due and only the
    signed-in customer's rows."""
    dv, ids = attested
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["f-admin"])
    response, trips = _count(dv_server, browser, "/")
    html = response.get_data(as_text=True)
    assert trips == 1
    assert "Microsoft 365 E3" in html and "INV-0002" in html
    assert "Microsoft Teams Essentials" not in html and "INV-0001" not in html


def test_batched_pages_still_answer_404_for_another_customers_ids(dv_server, portal_dv, portal_dv_app):
    dv, ids = portal_dv
    browser = PortalBrowser(portal_dv_app)
    browser.sign_in(ids["c-admin"])
    for path in (f"/subscriptions/{ids['s-fab']}", f"/invoices/{ids['i-fab']}",
                 f"/invoices/{ids['i-fab']}/download?format=html", f"/shop?contract={ids['k-fabrikam']}"):
        response, trips = _count(dv_server, browser, path)
        assert response.status_code == 404, path
        assert "Microsoft 365 E3" not in response.get_data(as_text=True)
        assert trips <= MAX_ROUND_TRIPS


def test_repository_pages_match_the_one_read_per_object_methods(portal_dv):
    """The page reads return what the per-object reads return (same rows, same order)."""
    from portal.dataverse_repo import DataverseRepository

    dv, ids = portal_dv
    repo = DataverseRepository(dv)
    contoso = ids["acc-contoso"]
    home = repo.home_page(contoso, subscriptions=True, invoices=True)
    assert home.subscriptions == repo.list_subscriptions(contoso)
    assert home.invoices == repo.list_invoices(contoso)
    assert home.account == repo.get_account(contoso)
    assert home.agreement == repo.get_agreement(contoso)
    sub, changes = repo.subscription_page(contoso, ids["s-m365"])
    assert sub == repo.get_subscription(contoso, ids["s-m365"]) and changes == []
    shop = repo.shop_page(contoso, None)
    assert shop.contract == repo.get_contract(contoso, ids["k-contoso"])
    assert {(o.name, o.unit_name) for o in shop.offers} == {("Visio Plan 2", "P1Y monthly"),
                                                              ("Visio Plan 2", "P1M monthly")}
    assert repo.subscription_page(contoso, ids["s-fab"]) is None
    assert repo.invoice_page(contoso, ids["i-fab"]) is None
    assert repo.shop_page(contoso, ids["k-fabrikam"]).contract is None
