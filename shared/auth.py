"""Access tokens at run time, from azure-identity (Dataverse, Storage, Service Bus, Key Vault) and msal
(Partner Center app+user, in partnercenter/auth.py). Nothing here reads settings at import; nothing logs
a token.

The app's own identity (`azure_credential`) is one of, in this order:
- the managed identity, when CSPB_USE_MANAGED_IDENTITY is on (CSPB_CLIENT_ID = a user-assigned one's client id);
- an app registration, when CSPB_CLIENT_SECRET is set (CSPB_TENANT_ID + CSPB_CLIENT_ID);
- otherwise DefaultAzureCredential: environment, workload identity, managed identity, then the developer's
  Azure CLI sign-in.
The Partner Center app registration is a separate identity with its own settings (CSPB_PC_CLIENT_*).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from shared.config import Settings

TokenProvider = Callable[[], str]

PUBLIC_LOGIN_HOST = "login.microsoftonline.com"
KNOWN_LOGIN_HOSTS = {PUBLIC_LOGIN_HOST, "login.microsoftonline.us", "login.chinacloudapi.cn"}
STORAGE_SCOPE = "https://storage.azure.com/.default"
SERVICEBUS_SCOPE = "https://servicebus.azure.net/.default"
KEY_VAULT_SCOPE = "https://vault.azure.net/.default"


def static_token(value: str) -> TokenProvider:
    """For the loopback sandboxes, which accept any bearer token."""
    return lambda: value


def scope_for(resource_url: str) -> str:
    """`https://host/.default` for a resource URL. Only the origin counts: a Dataverse URL given as
    `https://org.crm.dynamics.com/api/data/v9.2` still asks for `https://org.crm.dynamics.com/.default`."""
    parts = urlsplit(resource_url.strip())
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"not an absolute URL: {resource_url!r}")
    return f"{parts.scheme}://{parts.netloc}/.default"


def authority_options(settings: Settings) -> dict[str, Any]:
    """azure-identity keyword arguments for a non-public sign-in host (sovereign cloud or the stand-in)."""
    host = urlsplit(settings.login_url).netloc if settings.login_url else PUBLIC_LOGIN_HOST
    if not host or host == PUBLIC_LOGIN_HOST:
        return {}
    # Instance discovery asks the public cloud about the host; a private host cannot answer it.
    options: dict[str, Any] = {"authority": host, "disable_instance_discovery": host not in KNOWN_LOGIN_HOSTS}
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    return options


def _pinned_ca_session(ca_bundle: str) -> Any:
    """A requests session that trusts `ca_bundle` even when REQUESTS_CA_BUNDLE is set: requests lets that
    variable override a session's own `verify`, and many machines set it."""
    import requests

    class PinnedCaSession(requests.Session):
        def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
            merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
            merged["verify"] = self.verify
            return merged

    session = PinnedCaSession()
    session.verify = ca_bundle
    return session


def msal_options(settings: Settings) -> dict[str, Any]:
    """msal keyword arguments for a non-public sign-in host (no instance discovery, the extra CA)."""
    options: dict[str, Any] = {}
    if authority_options(settings).get("disable_instance_discovery"):
        options["instance_discovery"] = False
    if settings.ca_bundle:
        options["http_client"] = _pinned_ca_session(settings.ca_bundle)
    return options


_credentials: dict[tuple[Any, ...], Any] = {}
_credentials_lock = threading.Lock()


def azure_credential(settings: Settings) -> Any:
    """The app's own identity as an azure-identity credential (one per process per identity: each
    credential keeps its own token cache)."""
    key = (settings.use_managed_identity, settings.tenant_id, settings.client_id, settings.client_secret,
           settings.login_url)
    with _credentials_lock:
        cached = _credentials.get(key)
        if cached is not None:
            return cached
        from azure.identity import ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential

        options = authority_options(settings)
        credential: Any
        if settings.use_managed_identity:
            credential = ManagedIdentityCredential(client_id=settings.client_id or None)
        elif settings.client_secret:
            credential = ClientSecretCredential(settings.tenant_id, settings.client_id,
                                                settings.client_secret.reveal(), **options)
        else:
            credential = DefaultAzureCredential(managed_identity_client_id=settings.client_id or None,
                                                exclude_interactive_browser_credential=True, **options)
        _credentials[key] = credential
        return credential


def connection_credential(settings: Settings, prefix: str) -> Any:
    """The identity for one identity-based connection ("storage" or "servicebus"), read the way the
    Functions host reads it: `<prefix>__credential=managedidentity` + `<prefix>__clientId` picks a
    user-assigned managed identity; otherwise the app's own identity."""
    kind = str(getattr(settings, f"{prefix}_credential", "")).strip().lower()
    if kind == "managedidentity":
        client_id = str(getattr(settings, f"{prefix}_client_id", "")) or None
        key = ("managedidentity", client_id)
        with _credentials_lock:
            if key not in _credentials:
                from azure.identity import ManagedIdentityCredential

                _credentials[key] = ManagedIdentityCredential(client_id=client_id)
            return _credentials[key]
    return azure_credential(settings)


def sdk_options(settings: Settings) -> dict[str, Any]:
    """azure-core client keyword arguments: the extra CA for the local stand-ins, if any."""
    return {"connection_verify": settings.ca_bundle} if settings.ca_bundle else {}


def reset_credentials() -> None:
    with _credentials_lock:
        _credentials.clear()


def credential_token(credential: Any, scope: str, *, clock: Callable[[], float] = time.time) -> TokenProvider:
    """A TokenProvider over any azure-identity credential, cached until two minutes before expiry."""
    lock = threading.Lock()
    cached: dict[str, Any] = {}

    def provide() -> str:
        with lock:
            token = cached.get("token")
            if token is None or float(cached.get("expires_on", 0)) - clock() < 120:
                access = credential.get_token(scope)
                cached["token"], cached["expires_on"] = access.token, access.expires_on
            return str(cached["token"])

    return provide


def azure_identity_token(settings: Settings, scope: str) -> TokenProvider:
    """The app's own identity, for one scope."""
    return credential_token(azure_credential(settings), scope)


def token_provider_for(settings: Settings, resource_url: str) -> TokenProvider:
    """`{origin}/.default` in Azure; a fixed token against the sandboxes."""
    if settings.mode == "sandbox":
        return static_token("sandbox-token")
    return azure_identity_token(settings, scope_for(resource_url))
