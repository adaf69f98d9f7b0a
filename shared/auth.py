"""Access tokens at run time, from azure-identity (Dataverse, Graph, Storage) and msal
(Partner Center app+user). Nothing here reads settings at import; nothing logs a token."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shared.config import Settings

TokenProvider = Callable[[], str]


def static_token(value: str) -> TokenProvider:
    """For the loopback sandboxes, which accept any bearer token."""
    return lambda: value


def azure_identity_token(settings: Settings, scope: str) -> TokenProvider:
    """Client secret or managed identity, per the app settings. Tokens are cached until shortly before expiry."""
    from azure.identity import ClientSecretCredential, ManagedIdentityCredential

    credential: ClientSecretCredential | ManagedIdentityCredential
    if settings.use_managed_identity:
        credential = ManagedIdentityCredential(client_id=settings.client_id or None)
    else:
        credential = ClientSecretCredential(settings.tenant_id, settings.client_id, settings.client_secret.reveal())
    lock = threading.Lock()
    cached: dict[str, object] = {}

    def provide() -> str:
        with lock:
            token = cached.get("token")
            expires = float(cached.get("expires_on", 0))  # type: ignore[arg-type]
            if token is None or expires - time.time() < 120:
                access = credential.get_token(scope)
                cached["token"], cached["expires_on"] = access.token, access.expires_on
            return str(cached["token"])

    return provide


def token_provider_for(settings: Settings, resource_url: str) -> TokenProvider:
    """`{resource}/.default` in Azure; a fixed token against the sandboxes."""
    if settings.mode == "sandbox":
        return static_token("sandbox-token")
    return azure_identity_token(settings, resource_url.rstrip("/") + "/.default")
