"""pytest fixtures for sign-in and identity: the Entra ID and Key Vault stand-ins over TLS (a local CA that
the clients trust through REQUESTS_CA_BUNDLE / CSPB_CA_BUNDLE), and the settings of a deployment that
uses them (`azure_env`: CSPB_MODE=azure, every URL a stand-in's).

- `identity.entra` is the EntraState: `.users`, `.apps`, `.issued`, `.refresh_tokens`.
- `identity.keyvault` is the KeyVaultState: `.grant(oid, role)`, `.current(name)`, `.writes`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PC_APP, PC_SECRET = "8a1c0f9e-0000-4000-8000-0000000ab0a1", "pc-app-secret-value-123"
APP, APP_SECRET = "5e0e4a77-0000-4000-8000-00000000a001", "own-app-secret-value-456"
PORTAL_APP, PORTAL_SECRET = "0b7a1d5c-0000-4000-8000-0000000b0a12", "portal-secret-value-789"
PC_RESOURCES = ("https://api.partnercenter.microsoft.com", "https://api.partner.microsoft.com",
                "https://graph.microsoft.com")


@dataclass
class Identity:
    entra_url: str
    keyvault_url: str
    ca_file: str
    entra: Any
    keyvault: Any
    tenant_id: str

    def app_oid(self, client_id: str = APP) -> str:
        import uuid

        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sp:{client_id}"))


@pytest.fixture(scope="session")
def local_tls_files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from sandbox.tls import local_tls

    return local_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def identity(local_tls_files: Any, tmp_path: Path) -> Iterator[Identity]:
    from sandbox._server import RunningServer
    from sandbox.entra.server import PARTNER_TENANT, App
    from sandbox.entra.server import build_app as entra_app
    from sandbox.keyvault.server import build_app as kv_app

    entra = entra_app()
    state = entra.entra
    state.add_app(App(PC_APP, "CSPBridge Partner Center", secret=PC_SECRET, public_client=True,
                      redirect_uris=("http://localhost",), delegated=PC_RESOURCES, require_mfa=True,
                      app_roles={"https://graph.microsoft.com": ("PartnerBilling.Read.All",),
                                 "https://api.partnercenter.microsoft.com": ()}))
    state.add_app(App(APP, "CSPBridge", secret=APP_SECRET, app_roles={}))
    kv = kv_app()
    kv.keyvault.tenant_id = PARTNER_TENANT
    context = local_tls_files.server_context()
    with RunningServer(entra, ssl_context=context) as e, RunningServer(kv, ssl_context=context) as k:
        yield Identity(e.url, k.url, str(local_tls_files.ca_file), state, kv.keyvault, PARTNER_TENANT)


@pytest.fixture
def azure_env(identity: Identity, monkeypatch: pytest.MonkeyPatch) -> Identity:
    """A deployment's settings pointing at the stand-ins (CSPB_MODE=azure)."""
    from shared.auth import reset_credentials
    from shared.config import reset_settings

    values = {
        "CSPB_MODE": "azure", "CSPB_TENANT_ID": identity.tenant_id, "CSPB_LOGIN_URL": identity.entra_url,
        "CSPB_CLIENT_ID": APP, "CSPB_CLIENT_SECRET": APP_SECRET, "CSPB_CA_BUNDLE": identity.ca_file,
        "CSPB_PC_CLIENT_ID": PC_APP, "CSPB_PC_CLIENT_SECRET": PC_SECRET, "CSPB_KEY_VAULT_URL": identity.keyvault_url,
        "CSPB_DATAVERSE_URL": "https://contoso.crm.dynamics.com",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    # azure-core's transport trusts what requests trusts.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", identity.ca_file)
    reset_settings()
    reset_credentials()
    from partnercenter import auth as pc_auth

    pc_auth.reset_stores()
    return identity


@pytest.fixture(scope="session")
def azurite_oauth(local_tls_files: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """An Azurite of its own over HTTPS with OAuth on (`--oauth basic`: it checks a bearer token's issuer,
    audience and expiry, not its signature), so identity-based Storage clients meet a real check.
    Yields the account's blob and queue service URLs."""
    import subprocess

    from tests.conftest import AZURITE_ACCOUNT, REPO, _free_port, _wait_port

    binary = REPO / "node_modules" / ".bin" / "azurite"
    if not binary.exists():
        pytest.fail("Azurite is not installed: run `npm install` (make test does it)")
    blob_port, queue_port = _free_port(), _free_port()
    proc = subprocess.Popen(
        [str(binary), "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl", "--inMemoryPersistence",
         "--oauth", "basic", "--cert", str(local_tls_files.cert_file), "--key", str(local_tls_files.key_file),
         "--blobHost", "127.0.0.1", "--blobPort", str(blob_port), "--queueHost", "127.0.0.1",
         "--queuePort", str(queue_port), "--tableHost", "127.0.0.1", "--tablePort", str(_free_port())],
        cwd=tmp_path_factory.mktemp("azurite-oauth"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Node starts slowly on a loaded 2-core machine; the suite's other Azurite waits 30 s.
        _wait_port(blob_port, timeout=120)
        _wait_port(queue_port, timeout=120)
        yield {"blob": f"https://127.0.0.1:{blob_port}/{AZURITE_ACCOUNT}",
               "queue": f"https://127.0.0.1:{queue_port}/{AZURITE_ACCOUNT}"}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def servicebus(local_tls_files: Any) -> Iterator[Any]:
    """The Service Bus AMQP stand-in over TLS with the product's two queues; `.state` has queues and roles."""
    from sandbox.servicebus.server import ServiceBusSandbox

    with ServiceBusSandbox(local_tls_files.server_context()) as sandbox:
        for queue in ("cspb-provisioning", "cspb-subscription-sync"):
            sandbox.state.add_queue(queue)
        yield sandbox
