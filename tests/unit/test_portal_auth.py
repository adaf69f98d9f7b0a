"""Entra ID sign-in (msal auth code flow), sessions and CSRF helpers, without a network: the msal
application object is injected (there is no Entra sandbox to talk to)."""

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from portal.app import create_app
from portal.auth import EntraSignIn
from portal.seed import CONTOSO_TENANT
from portal.sessions import SessionSigner, cookie_is_secure
from shared.config import Secret, Settings
from shared.errors import FatalError


class FakeMsal:
    def __init__(self, claims):
        self.claims = claims
        self.flows = []

    def initiate_auth_code_flow(self, scopes, redirect_uri=None, **kw):
        flow = {"state": "st-1", "nonce": "n-1", "code_verifier": "v" * 43, "redirect_uri": redirect_uri,
                "scope": scopes, "auth_uri": f"https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
                                             f"?state=st-1&redirect_uri={redirect_uri}"}
        self.flows.append(flow)
        return flow

    def acquire_token_by_auth_code_flow(self, flow, auth_response, **kw):
        if auth_response.get("state") != flow["state"]:
            return {"error": "state_mismatch"}
        return {"id_token_claims": self.claims}


def azure_settings():
    return Settings(mode="azure", tenant_id="partner-tenant", portal_client_id="app",
                    portal_session_secret=Secret("s" * 32), portal_base_url="https://cspb.example/api/portal")


def entra_client(portal_repo, claims):
    fake = FakeMsal(claims)
    app = create_app(azure_settings(), portal_repo, sign_in=EntraSignIn(azure_settings(), fake))
    return Client(app), fake


def test_entra_sign_in_maps_oid_to_contact(portal_repo):
    client, fake = entra_client(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    r = client.get("/api/portal/signin", base_url="https://cspb.example")
    assert r.status_code == 302 and r.headers["Location"].startswith("https://login.microsoftonline.com/")
    assert fake.flows[0]["redirect_uri"] == "https://cspb.example/api/portal/signin/callback"
    assert "Secure" in r.headers["Set-Cookie"]
    r = client.get("/api/portal/signin/callback?state=st-1&code=abc", base_url="https://cspb.example")
    assert r.status_code == 302 and r.headers["Location"] == "/api/portal/"
    page = client.get("/api/portal/", base_url="https://cspb.example").get_data(as_text=True)
    assert "Welcome, Ada Admin" in page


def test_entra_sign_in_refuses_unknown_user_and_bad_state(portal_repo):
    client, _ = entra_client(portal_repo, {"oid": "someone-else", "tid": "x"})
    client.get("/api/portal/signin", base_url="https://cspb.example")
    r = client.get("/api/portal/signin/callback?state=st-1&code=abc", base_url="https://cspb.example")
    assert r.headers["Location"] == "/api/portal/signin"
    client2, _ = entra_client(portal_repo, {"oid": "oid-ada", "tid": CONTOSO_TENANT})
    client2.get("/api/portal/signin", base_url="https://cspb.example")
    r = client2.get("/api/portal/signin/callback?state=forged&code=abc", base_url="https://cspb.example")
    assert r.headers["Location"] == "/api/portal/signin"
    assert client2.get("/api/portal/subscriptions", base_url="https://cspb.example").status_code == 302


def test_partner_tenant_users_get_the_assessment(portal_repo):
    client, _ = entra_client(portal_repo, {"oid": "p-1", "tid": "partner-tenant", "name": "Pat Partner"})
    client.get("/api/portal/signin", base_url="https://cspb.example")
    r = client.get("/api/portal/signin/callback?state=st-1&code=abc", base_url="https://cspb.example")
    assert r.headers["Location"] == "/api/portal/admin/assessment"


def test_session_secret_required_outside_sandbox(portal_repo):
    with pytest.raises(FatalError):
        create_app(Settings(mode="azure"), portal_repo)


def test_signer_rejects_tampering_and_expiry():
    signer = SessionSigner(b"k" * 32, max_age=60)
    cookie = signer.dumps({"user": "x"}, now=1000)
    assert signer.loads(cookie, now=1010) == {"user": "x"}
    assert signer.loads(cookie, now=1100) == {}
    assert SessionSigner(b"j" * 32).loads(cookie, now=1010) == {}
    assert signer.loads("garbage", now=1010) == {} and signer.loads(None) == {}
    assert signer.loads(cookie[:-2] + "xx", now=time.time()) == {}


@pytest.mark.parametrize("host,secure", [("127.0.0.1:7110", False), ("localhost", False), ("[::1]:80", False),
                                         ("portal.example.com", True), ("cspb.azurewebsites.net:443", True)])
def test_cookie_secure_flag(host, secure):
    assert cookie_is_secure(host) is secure


def test_flow_state_kept_out_of_the_redirect_cookie_size(portal_repo):
    client, fake = entra_client(portal_repo, {"oid": "oid-ada", "tid": "t"})
    r = client.get("/api/portal/signin", base_url="https://cspb.example")
    state = parse_qs(urlsplit(r.headers["Location"]).query)["state"]
    assert state == ["st-1"] and len(r.headers["Set-Cookie"]) < 1500
