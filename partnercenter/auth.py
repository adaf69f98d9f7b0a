"""Tokens for Partner Center and Microsoft Graph, one per audience.

Partner Center has its own identity, apart from the managed identity used for Azure resources: the
partner's app registration (secure application model), CSPB_PC_CLIENT_ID + CSPB_PC_CLIENT_SECRET or
CSPB_PC_CLIENT_CERTIFICATE_PATH, in the partner tenant (CSPB_PC_TENANT_ID, else CSPB_TENANT_ID).
https://learn.microsoft.com/partner-center/developer/partner-center-authentication

- App+User (delegated): new-commerce writes, the price sheet and FX rates. A partner admin agent with MFA
  consents once (`cspbridge partnercenter consent`, partnercenter/consent.py); the refresh token lives in Key
  Vault. It is redeemed per audience: Partner Center REST (api.partnercenter.microsoft.com), the sales APIs
  on api.partner.microsoft.com, and Graph. Entra may hand back a new refresh token with each redemption;
  it is written back at once by the one writer of rotating refresh tokens (shared/rotating_token.py):
  one redemption at a time in the process (every audience shares the lock) and across instances (a
  blob lease, or a file lock locally: shared/locks.py), re-reading the stored token under the lock so
  a rotation by another audience or instance is picked up.
- App-only: the same app registration's client credentials, for Partner Center REST and for the Graph
  partner billing exports (application permission PartnerBilling.Read.All).
- Sandbox mode: a fixed token (shared.auth.token_provider_for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shared.auth import KEY_VAULT_SCOPE, TokenProvider, msal_options, token_provider_for
from shared.config import ConfigError, Settings
from shared.errors import AuthError
from shared.locks import CrossProcessLock, LazyLock, lock_for
from shared.rotating_token import RotatingRefreshToken, shared_slot
from shared.secret_store import (
    InMemorySecretStore,
    KeyVaultSecretStore,
    SecretStore,
    partner_center_store,
    reset_stores,
)

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
# The sales host (price sheets, FX rates) is its own audience and takes App+User tokens only
# (https://learn.microsoft.com/partner-center/developer/get-a-price-sheet, "Prerequisites").
PARTNER_API_SCOPE = "https://api.partner.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
AUDIENCES = {"partnercenter": PARTNER_CENTER_SCOPE, "partnerapi": PARTNER_API_SCOPE, "graph": GRAPH_SCOPE}
# Re-exported: consent, doctor and tests import the stores from here.
__all__ = ["KEY_VAULT_SCOPE", "InMemorySecretStore", "KeyVaultSecretStore", "SecretStore", "reset_stores"]

# Key Vault tag saying which kind of client the refresh token was issued to: Entra refuses a device-code
# (public client) token redeemed with a secret, and a web-app token redeemed without one.
CLIENT_TAG = "cspb-client"
KEY_VAULT_ROLES = ("Key Vault Secrets User", "Key Vault Secrets Officer")


def _certificate_credential(path: str) -> dict[str, Any]:
    """msal's client_credential for a certificate file: PFX/P12 as is, PEM (key + certificate) with its
    SHA-1 thumbprint, as the app registration shows it."""
    if path.lower().endswith((".pfx", ".p12")):
        return {"private_key_pfx_path": path}
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    pem = Path(path).read_bytes()
    cert = x509.load_pem_x509_certificate(pem)
    return {"private_key": pem.decode(), "thumbprint": cert.fingerprint(hashes.SHA1()).hex(),
            "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode()}


def pc_client_id(settings: Settings) -> str:
    """The Partner Center app registration. Falling back to CSPB_CLIENT_ID is only right when that is an app
    registration with a secret: a managed identity cannot be registered in Partner Center."""
    if settings.pc_client_id:
        return settings.pc_client_id
    if settings.client_id and settings.client_secret and not settings.use_managed_identity:
        return settings.client_id
    raise ConfigError("CSPB_PC_CLIENT_ID is not set: Partner Center needs its own app registration (secure "
                      "application model), apart from the managed identity used for Azure resources")


def _client_credential(settings: Settings) -> Any:
    if settings.pc_client_certificate_path:
        return _certificate_credential(settings.pc_client_certificate_path)
    if settings.pc_client_id:
        if not settings.pc_client_secret:
            raise ConfigError("CSPB_PC_CLIENT_SECRET or CSPB_PC_CLIENT_CERTIFICATE_PATH is missing for the Partner "
                              "Center app registration")
        return settings.pc_client_secret.reveal()
    return settings.client_secret.reveal()


def pc_authority(settings: Settings) -> str:
    tenant = settings.partner_tenant_id
    if not tenant:
        raise ConfigError("CSPB_PC_TENANT_ID (or CSPB_TENANT_ID) is not set: the partner's own tenant id")
    return f"{settings.login_url.rstrip('/')}/{tenant}"


def pc_msal_app(settings: Settings, *, public: bool = False) -> Any:
    """msal for the Partner Center app registration: confidential (secret or certificate), or public for
    tokens that came from the device-code flow."""
    import msal

    client_id = pc_client_id(settings)
    if public:
        return msal.PublicClientApplication(client_id, authority=pc_authority(settings), **msal_options(settings))
    return msal.ConfidentialClientApplication(client_id, client_credential=_client_credential(settings),
                                              authority=pc_authority(settings), **msal_options(settings))


def _no_consent(secret_name: str) -> AuthError:
    return AuthError(f"no Partner Center refresh token in secret {secret_name!r}; a partner admin must consent: "
                     "cspbridge partnercenter consent")


class RefreshTokenProvider(RotatingRefreshToken):
    """App+User access tokens for one audience from the stored refresh token, cached until near expiry.
    Every audience's provider of one stored token shares its slot (one redemption at a time in the
    process) and, given settings, the cross-process lock; each new refresh token Entra hands back is
    written back, with the secret's tags, before the access token is used (shared/rotating_token.py)."""

    def __init__(self, store: SecretStore, secret_name: str, *, scope: str = PARTNER_CENTER_SCOPE,
                 msal_app: Any = None, settings: Settings | None = None, lock: CrossProcessLock | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if msal_app is None and settings is None:
            raise ValueError("RefreshTokenProvider needs settings or an msal app")
        self._fixed_app = msal_app
        self._settings = settings
        self._apps: dict[bool, Any] = {}
        self.scope = scope
        self.tagged_store = store
        self._tags: dict[str, str] = {}
        if lock is None and settings is not None:
            lock = _lock_for(settings, secret_name)
        super().__init__(store, secret_name, self._redeem, refused=self._refusal, lock=lock,
                         slot=shared_slot(store, secret_name), clock=clock)

    def _app(self, public: bool) -> Any:
        if self._fixed_app is not None:
            return self._fixed_app
        if public not in self._apps:
            assert self._settings is not None
            self._apps[public] = pc_msal_app(self._settings, public=public)
        return self._apps[public]

    def _redeem(self, refresh_token: str) -> dict[str, Any] | None:
        """msal's answer, or None when Entra refuses this refresh token (invalid_grant)."""
        self._tags = self.tagged_store.tags(self.secret_name)
        result: dict[str, Any] = self._app(self._tags.get(CLIENT_TAG) == "public").acquire_token_by_refresh_token(
            refresh_token, scopes=[self.scope])
        if "access_token" in result:
            return result
        # The msal error text carries no secret, but be safe: code and a short reason only.
        error = str(result.get("error", "unknown"))
        if error == "invalid_grant":
            return None
        raise AuthError(f"refresh token redemption for {self.scope} failed: {error}", code=error)

    def _refusal(self, tried: list[str]) -> Exception:
        if not tried:
            return _no_consent(self.secret_name)
        return AuthError(f"refresh token redemption for {self.scope} failed: invalid_grant; a partner admin must "
                         "consent again: cspbridge partnercenter consent", code="invalid_grant")

    def write(self, refresh_token: str) -> None:
        # The tags say which kind of client the token was issued to: a new version without them would
        # be redeemed by the wrong one.
        self.tagged_store.set(self.secret_name, refresh_token, self._tags)


_locks: dict[tuple[str, str, str, str], CrossProcessLock] = {}
_locks_guard = threading.Lock()


def _lock_for(settings: Settings, secret_name: str) -> CrossProcessLock:
    """One cross-process lock per stored token per process (shared/locks.py: a blob lease when the app has
    Storage, else a file lock), built at the first refresh: building a blob lease lock reaches Storage."""
    # The connection string is a secret: only its in-process hash goes into the key.
    storage = settings.blob_service_uri or str(hash(settings.storage_connection_string.reveal()))
    key = (settings.mode, storage, settings.local_blob_root, secret_name)
    with _locks_guard:
        if key not in _locks:
            _locks[key] = LazyLock(lambda: lock_for(settings, secret_name), secret_name)
        return _locks[key]


class AppOnlyTokenProvider:
    """Client credentials of the Partner Center app registration for one audience (msal caches the token)."""

    def __init__(self, settings: Settings, scope: str, msal_app: Any = None) -> None:
        self._settings = settings
        self.scope = scope
        self._msal = msal_app
        self._lock = threading.Lock()

    def __call__(self) -> str:
        with self._lock:
            if self._msal is None:
                self._msal = pc_msal_app(self._settings)
            result = self._msal.acquire_token_for_client(scopes=[self.scope])
        if "access_token" not in result:
            raise AuthError(f"app-only token for {self.scope} failed: {result.get('error', 'unknown')}",
                            code=str(result.get("error", "")))
        return str(result["access_token"])


def secret_store_for(settings: Settings) -> SecretStore:
    """Key Vault (one client per vault per process, so every provider shares one writer lock)."""
    return partner_center_store(settings)


def app_user_token(settings: Settings, scope: str, store: SecretStore | None = None) -> TokenProvider:
    """App+User for one audience from the stored refresh token."""
    return RefreshTokenProvider(store or secret_store_for(settings), settings.pc_refresh_token_secret_name,
                                scope=scope, settings=settings)


def partner_center_token(settings: Settings, store: SecretStore | None = None, *, app_user: bool = False) -> TokenProvider:
    """Partner Center REST: App+User when asked or when a refresh token is stored; app-only otherwise."""
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.partner_center_url)
    store = store or secret_store_for(settings)
    if app_user or store.get(settings.pc_refresh_token_secret_name) is not None:
        return app_user_token(settings, PARTNER_CENTER_SCOPE, store)
    return AppOnlyTokenProvider(settings, PARTNER_CENTER_SCOPE)


def partner_api_token(settings: Settings, store: SecretStore | None = None) -> TokenProvider:
    """App+User for api.partner.microsoft.com: the same stored refresh token, redeemed for the sales audience."""
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.partner_api_url)
    return app_user_token(settings, PARTNER_API_SCOPE, store)


def graph_token(settings: Settings) -> TokenProvider:
    """Graph partner billing: app-only with PartnerBilling.Read.All on the Partner Center app registration."""
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.graph_url)
    return AppOnlyTokenProvider(settings, GRAPH_SCOPE)


