"""Portal identities and sessions: tid + oid matching, single-use invitations, sign-in errors that
land on the sign-in page (never a 500), the redirect URI from settings, the open redirect, and
server-side sign-out. msal itself is driven against the Entra stand-in in tests/integration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.test import Client

from portal.app import create_app
from portal.auth import EntraSignIn
from portal.invitations import invite
from portal.redirects import safe_next
from portal.seed import CONTOSO_TENANT
from portal.session_store import InMemorySessionStore
from shared.config import Secret, Settings

BASE = "https://cspb.example"


class StrictMsal:
    """Behaves like msal's auth code flow: a state that is not the flow's raises ValueError."""

    def __init__(self, claims):
        self.claims = claims
        self.n = 0

    def initiate_auth_code_flow(self, scopes, redirect_uri=None, **kw):
        self.n += 1
        state = f"st-{self.n}"
        self.redirect_uri = redirect_uri
        return {"state": state, "redirect_uri": redirect_uri, "auth_uri": f"https://login.example/authorize?state={state}"}

    def acquire_token_by_auth_code_flow(self, flow, auth_response, **kw):
        if auth_response.get("state") != flow["state"]:
            raise ValueError("state mismatch")
        return {"id_token_claims": self.claims}


def settings():
    return Settings(mode="azure", tenant_id="partner-tenant", portal_client_id="app",
                    portal_session_secret=Secret("s" * 32), portal_base_url="https://portal.partner.example/api/portal")


def client_for(repo, claims, store=None):
    msal_app = StrictMsal(claims)
    app = create_app(settings(), repo, sign_in=EntraSignIn(settings(), msal_app),
                     session_store=store or InMemorySessionStore())
    return Client(app), msal_app


def sign_in(client):
    r = client.get("/api/portal/signin", base_url=BASE)
    state = r.headers["Location"].rsplit("=", 1)[1]
    return client.get(f"/api/portal/signin/callback?state={state}&code=abc", base_url=BASE)


def test_redirect_uri_comes_from_the_base_url_not_the_host_header(portal_repo):
    client, msal_app = client_for(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    client.get("/api/portal/signin", base_url="https://attacker.example")
    assert msal_app.redirect_uri == "https://portal.partner.example/api/portal/signin/callback"


def test_sign_in_matches_tenant_and_object_id(portal_repo):
    client, _ = client_for(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    assert sign_in(client).headers["Location"] == "/api/portal/"
    # The same object id from another tenant is another person.
    other, _ = client_for(portal_repo, {"oid": "oid-ada", "tid": "another-tenant"})
    r = sign_in(other)
    assert r.headers["Location"] == "/api/portal/signin"
    page = other.get("/api/portal/signin", base_url=BASE)
    assert page.status_code == 200 and "no portal access" in page.get_data(as_text=True)


@pytest.mark.parametrize("query,message", [
    ("state=forged&code=abc", "did not match"),
    ("error=access_denied&error_description=AADSTS65004%3A+User+declined+to+consent&state=st-1", "declined"),
])
def test_bad_state_or_denied_consent_returns_to_sign_in_with_a_message(portal_repo, query, message):
    client, _ = client_for(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    client.get("/api/portal/signin", base_url=BASE)
    r = client.get(f"/api/portal/signin/callback?{query}", base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"] == "/api/portal/signin"
    page = client.get("/api/portal/signin", base_url=BASE)
    assert page.status_code == 200 and message in page.get_data(as_text=True)
    # The page offers a fresh start rather than looping back to Entra.
    assert "signin?start=1" in page.get_data(as_text=True)


def test_callback_without_a_started_sign_in_is_not_a_500(portal_repo):
    client, _ = client_for(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    r = client.get("/api/portal/signin/callback?state=st-1&code=abc", base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"] == "/api/portal/signin"
    assert "expired" in client.get("/api/portal/signin", base_url=BASE).get_data(as_text=True)


def test_invitation_binds_the_first_identity_and_is_single_use(portal_repo):
    link = invite(portal_repo, "c-subs", "https://portal.partner.example/api/portal")
    path = link.removeprefix("https://portal.partner.example")
    client, _ = client_for(portal_repo, {"oid": "oid-sam", "tid": CONTOSO_TENANT})
    r = client.get(path, base_url=BASE)
    assert r.headers["Location"] == "/api/portal/signin?start=1"
    r = client.get("/api/portal/signin?start=1", base_url=BASE)
    state = r.headers["Location"].rsplit("=", 1)[1]
    r = client.get(f"/api/portal/signin/callback?state={state}&code=abc", base_url=BASE)
    assert r.headers["Location"] == "/api/portal/"
    sam = portal_repo.get_contact("c-subs")
    assert (sam.tenant_id, sam.subject) == (CONTOSO_TENANT, "oid-sam")
    # Later sign-ins match on both ids, without the link.
    again, _ = client_for(portal_repo, {"oid": "oid-sam", "tid": CONTOSO_TENANT})
    assert sign_in(again).headers["Location"] == "/api/portal/"
    # The link is used up: someone else following it gets nothing.
    thief, _ = client_for(portal_repo, {"oid": "oid-mallory", "tid": "evil-tenant"})
    thief.get(path, base_url=BASE)
    r = thief.get("/api/portal/signin?start=1", base_url=BASE)
    state = r.headers["Location"].rsplit("=", 1)[1]
    r = thief.get(f"/api/portal/signin/callback?state={state}&code=abc", base_url=BASE)
    assert r.headers["Location"] == "/api/portal/signin"
    assert "already used" in thief.get("/api/portal/signin", base_url=BASE).get_data(as_text=True)
    assert portal_repo.get_contact("c-subs").subject == "oid-sam"


def test_expired_invitation_is_refused(portal_repo):
    link = invite(portal_repo, "c-fin", BASE + "/api/portal", now=datetime.now(UTC) - timedelta(days=8))
    client, _ = client_for(portal_repo, {"oid": "oid-fiona", "tid": CONTOSO_TENANT})
    client.get(link.removeprefix(BASE), base_url=BASE)
    r = client.get("/api/portal/signin?start=1", base_url=BASE)
    state = r.headers["Location"].rsplit("=", 1)[1]
    assert client.get(f"/api/portal/signin/callback?state={state}&code=x", base_url=BASE).headers["Location"] \
        == "/api/portal/signin"
    assert portal_repo.get_contact("c-fin").subject == ""


@pytest.mark.parametrize("target", [
    "/\t/evil.example", "/%09/evil.example", "//evil.example", "/\\evil.example", "\\\\evil.example",
    "https://evil.example/", "/\n/evil.example", " //evil.example", "javascript:alert(1)", "/\r\n/evil.example",
    "/elsewhere/page", "", "evil.example",
])
def test_next_accepts_only_same_site_portal_paths(target):
    assert safe_next(target, "/portal", "/portal/") == "/portal/"


@pytest.mark.parametrize("target", ["/portal/signin", "/portal/invoices?x=1", "/portal"])
def test_next_keeps_portal_paths(target):
    assert safe_next(target, "/portal", "/portal/") == target


def test_language_switch_is_not_an_open_redirect(portal_browser):
    for raw in ("/%09/evil.example", "/%5Cevil.example", "%2F%2Fevil.example", "/%0A/evil.example"):
        r = portal_browser.get(f"/lang/es?next={raw}")
        assert r.status_code == 302 and r.headers["Location"] == "/portal/", raw


def test_sign_out_revokes_the_session_server_side(portal_repo):
    store = InMemorySessionStore()
    client, _ = client_for(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT}, store)
    sign_in(client)
    cookie = client.get_cookie("cspb_portal", domain="cspb.example", path="/api/portal/").value
    assert client.get("/api/portal/subscriptions", base_url=BASE).status_code == 200
    page = client.get("/api/portal/", base_url=BASE).get_data(as_text=True)
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "sign-out form carries a CSRF token"
    client.post("/api/portal/signout", data={"csrf_token": token.group(1)}, base_url=BASE)
    # Replaying the old cookie (copied before sign-out) no longer opens anything.
    replay = Client(client.application)
    replay.set_cookie("cspb_portal", cookie, domain="cspb.example", path="/api/portal/")
    r = replay.get("/api/portal/subscriptions", base_url=BASE)
    assert r.status_code == 302 and r.headers["Location"].endswith("/api/portal/signin")


def test_a_sign_in_left_too_long_is_expired(portal_repo):
    now = [datetime(2026, 12, 1, 10, 0, tzinfo=UTC)]
    msal_app = StrictMsal({"oid": "oid-ada", "tid": CONTOSO_TENANT})
    app = create_app(settings(), portal_repo, sign_in=EntraSignIn(settings(), msal_app, clock=lambda: now[0]),
                     session_store=InMemorySessionStore())
    client = Client(app)
    r = client.get("/api/portal/signin", base_url=BASE)
    state = r.headers["Location"].rsplit("=", 1)[1]
    now[0] += timedelta(minutes=20)
    r = client.get(f"/api/portal/signin/callback?state={state}&code=abc", base_url=BASE)
    assert r.headers["Location"] == "/api/portal/signin"
    assert "expired" in client.get("/api/portal/signin", base_url=BASE).get_data(as_text=True)
