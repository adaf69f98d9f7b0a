"""Partner Center App+User, end to end with the real msal library against the Entra and Key Vault
stand-ins: the device-code consent of an MFA partner admin, the auth-code consent with a local
redirect, refresh-token rotation written back by one writer, and one token per audience."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests
from click.testing import CliRunner

from sandbox.entra.server import MFA_CODE
from sandbox.keyvault.server import SECRETS_OFFICER, SECRETS_USER
from tests.plugins.identity import PC_APP

pytestmark = pytest.mark.integration


def approve_when_asked(identity, username="admin@partner.example", password="Passw0rd!", mfa=MFA_CODE):
    """What the admin does in a browser at /devicelogin, from another thread."""
    done: dict[str, object] = {}

    def run() -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            pending = requests.get(f"{identity.entra_url}/_sandbox/devicecodes", verify=identity.ca_file).json()
            if pending["value"]:
                r = requests.post(f"{identity.entra_url}/devicelogin", verify=identity.ca_file,
                                  data={"user_code": pending["value"][0]["user_code"], "username": username,
                                        "password": password, "mfa_code": mfa})
                done["status"] = r.status_code
                return
            time.sleep(0.1)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_device_code_consent_stores_the_refresh_token_in_key_vault(azure_env):
    identity = azure_env
    identity.keyvault.grant(identity.app_oid(), SECRETS_OFFICER)
    thread, done = approve_when_asked(identity)
    from cli.main import cli

    result = CliRunner().invoke(cli, ["partnercenter", "consent", "--device-code", "--timeout", "60"])
    thread.join(5)
    assert result.exit_code == 0, result.output
    assert "enter the code" in result.output and "/devicelogin" in result.output
    assert "Stored the Partner Center refresh token in Key Vault as secret 'pc-refresh-token'" in result.output
    assert "admin@partner.example" in result.output
    stored = identity.keyvault.current("pc-refresh-token")
    assert stored and stored.startswith("0.RT.") and stored not in result.output
    # The device code came through a public client: no secret was sent with it.
    assert identity.entra.refresh_tokens[stored]["public"] is True


def test_consent_without_mfa_is_refused_and_nothing_is_stored(azure_env):
    identity = azure_env
    identity.keyvault.grant(identity.app_oid(), SECRETS_OFFICER)
    thread, done = approve_when_asked(identity, username="nomfa@partner.example", mfa="")
    from cli.main import cli

    result = CliRunner().invoke(cli, ["partnercenter", "consent", "--timeout", "30"])
    thread.join(5)
    assert result.exit_code == 1
    assert "multi-factor" in result.output and "Traceback" not in result.output
    assert identity.keyvault.current("pc-refresh-token") is None


def test_consent_needs_key_vault_write_and_names_the_role(azure_env):
    identity = azure_env
    identity.keyvault.grant(identity.app_oid(), SECRETS_USER)  # read only
    thread, _ = approve_when_asked(identity)
    from cli.main import cli

    result = CliRunner().invoke(cli, ["partnercenter", "consent", "--timeout", "30"])
    thread.join(5)
    assert result.exit_code == 1
    assert "Key Vault Secrets Officer" in result.output


def test_auth_code_consent_with_a_local_redirect(azure_env):
    identity = azure_env
    identity.keyvault.grant(identity.app_oid(), SECRETS_OFFICER)
    from partnercenter.consent import consent_with_browser
    from shared.config import get_settings

    def browser(url: str) -> None:
        def run() -> None:
            page = requests.get(url, verify=identity.ca_file)
            assert page.status_code == 200
            from urllib.parse import parse_qsl, urlsplit

            form = dict(parse_qsl(urlsplit(url).query))
            form.update(username="admin@partner.example", password="Passw0rd!", mfa_code=MFA_CODE, action="accept")
            # The stand-in redirects to http://localhost:PORT/?code=...; requests follows it to the listener.
            requests.post(url.split("?")[0], data=form, verify=identity.ca_file, timeout=10)

        threading.Thread(target=run, daemon=True).start()

    result = consent_with_browser(get_settings(), lambda _: None, port=0, timeout=30, open_browser=browser)
    assert result.flow == "auth_code" and result.mfa
    stored = identity.keyvault.current("pc-refresh-token")
    assert identity.entra.refresh_tokens[stored]["public"] is False


def _consented(identity) -> None:
    identity.keyvault.grant(identity.app_oid(), SECRETS_OFFICER)
    thread, _ = approve_when_asked(identity)
    from partnercenter.consent import consent_with_device_code
    from shared.config import get_settings

    consent_with_device_code(get_settings(), lambda _: None, timeout=30)
    thread.join(5)


def test_tokens_per_audience_and_rotation_written_back_by_one_writer(azure_env):
    identity = azure_env
    _consented(identity)
    from partnercenter.auth import app_user_token, partner_api_token, partner_center_token
    from shared.config import get_settings

    settings = get_settings()
    first = identity.keyvault.current("pc-refresh-token")
    pc = partner_center_token(settings)
    sales = partner_api_token(settings)
    graph_delegated = app_user_token(settings, "https://graph.microsoft.com/.default")
    audiences = {jwt.decode(p(), options={"verify_signature": False})["aud"] for p in (pc, sales, graph_delegated)}
    assert audiences == {"https://api.partnercenter.microsoft.com", "https://api.partner.microsoft.com",
                         "https://graph.microsoft.com"}
    # Each redemption rotated the refresh token; the vault holds the newest, the old ones are dead.
    latest = identity.keyvault.current("pc-refresh-token")
    assert latest != first and identity.entra.refresh_tokens[latest]["active"]
    assert not identity.entra.refresh_tokens[first]["active"]
    assert identity.keyvault.writes == 4  # consent + three rotations

    # Many threads, three audiences, cold caches: every redemption used the token the previous one stored.
    from partnercenter import auth as pc_auth

    fresh = [pc_auth.app_user_token(settings, scope) for scope in
             ("https://api.partnercenter.microsoft.com/.default", "https://api.partner.microsoft.com/.default",
              "https://graph.microsoft.com/.default") for _ in range(3)]
    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda p: p(), fresh))
    assert all(tokens)
    assert identity.entra.refresh_tokens[identity.keyvault.current("pc-refresh-token")]["active"]
    failures = [i for i in identity.entra.issued if i["grant"] == "refresh_token"]
    assert len(failures) == 3 + 9


def test_graph_app_only_token_carries_partner_billing_permission(azure_env):
    from partnercenter.auth import graph_token
    from shared.config import get_settings

    claims = jwt.decode(graph_token(get_settings())(), options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com" and claims["appid"] == PC_APP
    assert "PartnerBilling.Read.All" in claims["roles"]


def test_a_retired_refresh_token_asks_for_consent_again(azure_env):
    identity = azure_env
    _consented(identity)
    from partnercenter.auth import InMemorySecretStore, RefreshTokenProvider
    from shared.config import get_settings
    from shared.errors import AuthError

    stale = identity.keyvault.current("pc-refresh-token")
    partner_center = RefreshTokenProvider(InMemorySecretStore({"rt": stale}), "rt", settings=get_settings())
    tags_store = partner_center.store
    tags_store.set("rt", stale, {"cspb-client": "public"})
    partner_center()  # redeems and retires `stale`
    replay = RefreshTokenProvider(InMemorySecretStore({"rt": stale}), "rt", settings=get_settings())
    replay.store.set("rt", stale, {"cspb-client": "public"})
    with pytest.raises(AuthError, match="consent again"):
        replay()


def test_key_vault_store_through_azure_keyvault_secrets(azure_env):
    """The SDK's challenge flow (401 + WWW-Authenticate, then a vault token), versions, tags, RBAC."""
    identity = azure_env
    from partnercenter.auth import KeyVaultSecretStore
    from shared.auth import azure_credential
    from shared.config import get_settings
    from shared.errors import AuthError

    store = KeyVaultSecretStore(identity.keyvault_url, azure_credential(get_settings()), ca_bundle=identity.ca_file)
    with pytest.raises(AuthError, match="Key Vault Secrets User"):
        store.get("pc-rt")
    identity.keyvault.grant(identity.app_oid(), SECRETS_USER)
    assert store.get("pc-rt") is None
    with pytest.raises(AuthError, match="Key Vault Secrets Officer"):
        store.set("pc-rt", "one")
    identity.keyvault.grant(identity.app_oid(), SECRETS_OFFICER)
    store.set("pc-rt", "one", {"cspb-client": "public"})
    store.set("pc-rt", "two", {"cspb-client": "public"})
    assert store.get("pc-rt").reveal() == "two" and store.tags("pc-rt") == {"cspb-client": "public"}
