"""The demo portal signs customers in through the Entra stand-in with the real msal auth code flow
(PKCE, state, nonce): an invited customer follows the single-use link, signs in, is bound by tenant id +
object id, and sees only their own company's data. Plain HTTP with a cookie jar, as a browser would."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

pytestmark = pytest.mark.integration


@pytest.fixture
def demo_portal(dv_server, tmp_path, monkeypatch, local_tls_files):
    from cli.demo_portal import run_demo_step, stop_servers
    from sandbox._server import RunningServer
    from sandbox.entra.server import build_app
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    for key in ("CSPB_PORTAL_CLIENT_ID", "CSPB_PORTAL_CLIENT_SECRET", "CSPB_LOGIN_URL", "CSPB_CA_BUNDLE",
                "CSPB_TENANT_ID"):
        monkeypatch.delenv(key, raising=False)
    reset_settings()
    entra = RunningServer(build_app(), ssl_context=local_tls_files.server_context()).start()
    try:
        lines = run_demo_step(tmp_path, entra, str(local_tls_files.ca_file))
        yield lines, entra, str(local_tls_files.ca_file), tmp_path
    finally:
        stop_servers()
        entra.stop()
        import os

        for key in ("CSPB_PORTAL_CLIENT_ID", "CSPB_PORTAL_CLIENT_SECRET", "CSPB_LOGIN_URL", "CSPB_CA_BUNDLE",
                    "CSPB_TENANT_ID"):
            os.environ.pop(key, None)
        reset_settings()


def sign_in_at_entra(session: requests.Session, response: requests.Response, ca: str, username: str,
                     password: str = "Demo-Passw0rd!", action: str = "accept") -> requests.Response:
    """Fill in the stand-in's sign-in form the way a person would, then follow the redirects home."""
    assert response.url.startswith("https://127.0.0.1:") and "/oauth2/v2.0/authorize" in response.url
    form = dict(parse_qsl(urlsplit(response.url).query))
    form.update(username=username, password=password, action=action)
    return session.post(response.url.split("?")[0], data=form, verify=ca, timeout=10)


def test_invited_customer_signs_in_through_entra_and_sees_only_their_data(demo_portal):
    lines, entra, ca, out = demo_portal
    text = "\n".join(lines)
    link = re.search(r"invitation for Fabio Garcia .*?: (\S+)", text).group(1)
    assert (out / "portal-invitation.txt").read_text().strip() == link
    portal = link.split("/portal/")[0] + "/portal"

    fabio = requests.Session()
    page = fabio.get(link, verify=ca, timeout=10)  # -> /signin?start=1 -> Entra's sign-in form
    home = sign_in_at_entra(fabio, page, ca, "fabio@fabrikam.example")
    assert home.status_code == 200 and home.url == portal + "/", home.url
    body = home.text
    assert "Fabrikam SA" in body and "Contoso" not in body
    invoices = fabio.get(portal + "/invoices", timeout=10).text
    assert "INV-0002" in invoices and "INV-0001" not in invoices
    # Contoso's invoice and subscription ids, copied or guessed, are simply not there for Fabio.
    from dataverse.client import DataverseClient
    from portal.dataverse_seed import seed_dataverse
    from shared.config import get_settings

    ids = seed_dataverse(DataverseClient.from_settings(get_settings()))  # idempotent: the same rows' ids
    assert fabio.get(f"{portal}/invoices/{ids['i-fab']}", timeout=10).status_code == 200
    assert fabio.get(f"{portal}/invoices/{ids['i-1']}", timeout=10).status_code == 404
    assert fabio.get(f"{portal}/subscriptions/{ids['s-m365']}", timeout=10).status_code == 404
    # Entra issued the id token to the portal app with PKCE, and the binding is tenant id + object id.
    issued = [i for i in entra.app.entra.issued if i["grant"] == "authorization_code"]
    assert issued and issued[-1]["oid"] == "f7b10000-0000-4000-8000-00000000fab1"

    # The link is single-use: a second person following it gets the sign-in page with a message.
    other = requests.Session()
    entra.app.entra.add_user(type(entra.app.entra.users["fabio@fabrikam.example"])(
        "mallory@evil.example", "Demo-Passw0rd!", "e0000000-0000-4000-8000-0000000000e1", "e-1", "Mallory"))
    page = other.get(link, verify=ca, timeout=10)
    back = sign_in_at_entra(other, page, ca, "mallory@evil.example")
    assert back.status_code == 200 and "already used" in back.text
    assert other.get(portal + "/invoices", timeout=10, allow_redirects=False).headers["Location"].endswith(
        "/portal/signin")

    # Later sign-ins, without the link, match on tenant id + object id.
    again = requests.Session()
    page = again.get(portal + "/signin", verify=ca, timeout=10)
    home = sign_in_at_entra(again, page, ca, "fabio@fabrikam.example")
    assert "Fabrikam SA" in home.text


def test_declined_consent_and_bad_state_land_on_the_sign_in_page(demo_portal):
    lines, entra, ca, _ = demo_portal
    portal = re.search(r"portal: (\S+)/ ", "\n".join(lines)).group(1)
    ada = requests.Session()
    page = ada.get(portal + "/signin", verify=ca, timeout=10)
    back = sign_in_at_entra(ada, page, ca, "ada@contoso.example", action="cancel")
    assert back.status_code == 200 and back.url.startswith(portal + "/signin") and "declined" in back.text
    forged = ada.get(portal + "/signin/callback?code=abc&state=forged", timeout=10)
    assert forged.status_code == 200 and "Sign in" in forged.text
    # Ada's identity was bound in the seed: she goes straight in and sees Contoso only.
    page = ada.get(portal + "/signin?start=1", verify=ca, timeout=10)
    home = sign_in_at_entra(ada, page, ca, "ada@contoso.example")
    assert "Contoso Ltd" in home.text and "Fabrikam" not in home.text


def test_admin_invites_a_contact_from_the_command_line(demo_portal, monkeypatch):
    """`cspbridge portal invite --email` prints a link and the e-mail; the customer signs in through it."""
    from click.testing import CliRunner

    from cli.main import cli
    from shared.config import reset_settings

    lines, entra, ca, _ = demo_portal
    portal = re.search(r"portal: (\S+)/ ", "\n".join(lines)).group(1)
    monkeypatch.setenv("CSPB_PORTAL_BASE_URL", portal)
    reset_settings()
    result = CliRunner().invoke(cli, ["portal", "invite", "--email", "sam@contoso.example"])
    assert result.exit_code == 0, result.output
    link = result.output.splitlines()[0]
    assert link.startswith(portal + "/invite/") and "To: sam@contoso.example" in result.output
    from sandbox.entra.server import User

    entra.app.entra.add_user(User("sam@contoso.example", "Demo-Passw0rd!", "8d2f3c1a-0000-4000-8000-00000000c0de",
                                  "oid-sam", "Sam Seats"))
    sam = requests.Session()
    home = sign_in_at_entra(sam, sam.get(link, verify=ca, timeout=10), ca, "sam@contoso.example")
    assert home.status_code == 200 and "Contoso Ltd" in home.text
    bad = CliRunner().invoke(cli, ["portal", "invite", "--email", "nobody@nowhere.example"])
    assert bad.exit_code == 1 and "no single portal contact" in bad.output and "Traceback" not in bad.output
