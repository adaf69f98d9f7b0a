"""Tokens for Partner Center and Microsoft Graph.

- App-only: the app's own identity (client secret or managed identity) through shared.auth.
- App+user: some Partner Center calls (price sheets, some order flows) need a delegated token. The
  partner's admin consents once; the refresh token lives in a SecretStore (Key Vault in Azure) and
  msal redeems it (`acquire_token_by_refresh_token`). Microsoft may hand back a new refresh token
  with each redemption; it is written back so the stored one never goes stale.
  https://learn.microsoft.com/partner-center/developer/partner-center-authentication
- Sandbox mode: a fixed token (shared.auth.token_provider_for).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from shared.auth import TokenProvider, azure_identity_token, token_provider_for
from shared.config import Secret, Settings
from shared.errors import AuthError, NotFoundError
from shared.http import HttpClient

PARTNER_CENTER_SCOPE = "https://api.partnercenter.microsoft.com/.default"
# The sales host (price sheets, FX rates) is its own audience and takes App+User tokens only
# (https://learn.microsoft.com/partner-center/developer/get-a-price-sheet, "Prerequisites").
PARTNER_API_SCOPE = "https://api.partner.microsoft.com/.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
KEY_VAULT_SCOPE = "https://vault.azure.net/.default"


class SecretStore(Protocol):
    def get(self, name: str) -> Secret | None: ...

    def set(self, name: str, value: str) -> None: ...


class InMemorySecretStore:
    """For tests and the sandbox; loses everything on restart."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = {k: Secret(v) for k, v in (values or {}).items()}
        self._lock = threading.Lock()

    def get(self, name: str) -> Secret | None:
        with self._lock:
            return self._values.get(name)

    def set(self, name: str, value: str) -> None:
        with self._lock:
            self._values[name] = Secret(value)


class KeyVaultSecretStore:
    """Key Vault secrets over REST (no extra SDK): GET/PUT {vault}/secrets/{name}?api-version=7.4.
    https://learn.microsoft.com/rest/api/keyvault/secrets/get-secret/get-secret"""

    API_VERSION = "7.4"

    def __init__(self, vault_url: str, token_provider: TokenProvider, *, http: HttpClient | None = None) -> None:
        self.http = http or HttpClient(vault_url, token_provider=token_provider)

    def get(self, name: str) -> Secret | None:
        try:
            body = self.http.get_json(f"/secrets/{name}", params={"api-version": self.API_VERSION})
        except NotFoundError:
            return None
        return Secret(str(body.get("value", "")))

    def set(self, name: str, value: str) -> None:
        self.http.request("PUT", f"/secrets/{name}", params={"api-version": self.API_VERSION},
                          json={"value": value, "contentType": "text/plain"})


class RefreshTokenProvider:
    """App+user access tokens for Partner Center from a stored refresh token, cached until near expiry."""

    def __init__(self, store: SecretStore, secret_name: str, *, scope: str = PARTNER_CENTER_SCOPE,
                 msal_app: Any = None, settings: Settings | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if msal_app is None:
            if settings is None:
                raise ValueError("RefreshTokenProvider needs settings or an msal app")
            import msal

            msal_app = msal.ConfidentialClientApplication(
                settings.client_id, client_credential=settings.client_secret.reveal(),
                authority=f"https://login.microsoftonline.com/{settings.tenant_id}")
        self.app = msal_app
        self.store = store
        self.secret_name = secret_name
        self.scope = scope
        self.clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0

    def __call__(self) -> str:
        with self._lock:
            if self._token and self._expires - self.clock() > 120:
                return self._token
            refresh = self.store.get(self.secret_name)
            if refresh is None or not refresh:
                raise AuthError(f"no Partner Center refresh token in secret {self.secret_name!r}; "
                                "an admin must consent again")
            result = self.app.acquire_token_by_refresh_token(refresh.reveal(), scopes=[self.scope])
            if "access_token" not in result:
                # The msal error text carries no secret, but be safe: code and a short reason only.
                raise AuthError(f"refresh token redemption failed: {result.get('error', 'unknown')}",
                                code=str(result.get("error", "")))
            if result.get("refresh_token") and result["refresh_token"] != refresh.reveal():
                self.store.set(self.secret_name, result["refresh_token"])
            self._token = result["access_token"]
            self._expires = self.clock() + float(result.get("expires_in", 3600))
            return self._token


def secret_store_for(settings: Settings) -> SecretStore:
    if settings.key_vault_url and settings.mode != "sandbox":
        return KeyVaultSecretStore(settings.key_vault_url, azure_identity_token(settings, KEY_VAULT_SCOPE))
    return InMemorySecretStore()


def partner_center_token(settings: Settings, store: SecretStore | None = None, *, app_user: bool = False) -> TokenProvider:
    """App+user when asked (or when a refresh token is stored); app-only otherwise."""
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.partner_center_url)
    store = store or secret_store_for(settings)
    if app_user or store.get(settings.pc_refresh_token_secret_name) is not None:
        return RefreshTokenProvider(store, settings.pc_refresh_token_secret_name, settings=settings)
    return azure_identity_token(settings, PARTNER_CENTER_SCOPE)


def partner_api_token(settings: Settings, store: SecretStore | None = None) -> TokenProvider:
    """App+User for api.partner.microsoft.com: the same stored refresh token, redeemed for the sales audience."""
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.partner_api_url)
    return RefreshTokenProvider(store or secret_store_for(settings), settings.pc_refresh_token_secret_name,
                                scope=PARTNER_API_SCOPE, settings=settings)


def graph_token(settings: Settings) -> TokenProvider:
    if settings.mode == "sandbox":
        return token_provider_for(settings, settings.graph_url)
    return azure_identity_token(settings, GRAPH_SCOPE)
