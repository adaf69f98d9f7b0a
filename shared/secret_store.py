"""Where the app keeps the secrets it writes itself (refresh tokens that rotate): Key Vault in Azure.

The one home of the secret stores and of the factories that pick one from the settings:
- `key_vault_store`: one Key Vault client per vault and identity per process, so every token provider
  that writes to the vault shares it;
- `partner_center_store`: the Partner Center refresh token (consent, App+User). Sandbox mode keeps it in
  memory: the sandbox takes a fixed token and never redeems it;
- `rotating_token_store`: QuickBooks' and TD SYNNEX's refresh tokens (shared/rotating_token.py). Sandbox
  mode keeps them as files under the local blob root, so a token one run rotated is the one the next run
  redeems against the loopback sandboxes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

from shared.auth import azure_credential
from shared.config import ConfigError, Secret, Settings
from shared.errors import AuthError
from shared.secret_files import FileSecretStore


class TokenStore(Protocol):
    """What a rotating refresh token needs: read the current value, write the next."""

    def get(self, name: str) -> Secret | None: ...

    def set(self, name: str, value: str) -> None: ...


class SecretStore(Protocol):
    """Key Vault's shape: values with tags (the Partner Center token's tag names the client it came from)."""

    def get(self, name: str) -> Secret | None: ...

    def set(self, name: str, value: str, tags: dict[str, str] | None = None) -> None: ...

    def tags(self, name: str) -> dict[str, str]: ...


class InMemorySecretStore:
    """For tests and the sandbox; loses everything on restart."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = {k: Secret(v) for k, v in (values or {}).items()}
        self._tags: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        self.writes = 0

    def get(self, name: str) -> Secret | None:
        with self._lock:
            return self._values.get(name)

    def set(self, name: str, value: str, tags: dict[str, str] | None = None) -> None:
        with self._lock:
            self._values[name] = Secret(value)
            self._tags[name] = dict(tags or {})
            self.writes += 1

    def tags(self, name: str) -> dict[str, str]:
        with self._lock:
            return dict(self._tags.get(name, {}))


def _kv_error(exc: Exception, name: str, action: str) -> AuthError:
    status = getattr(exc, "status_code", None)
    if status == 403:
        role = "Key Vault Secrets Officer" if action == "write" else "Key Vault Secrets User"
        return AuthError(f"Key Vault refused to {action} secret {name!r}: the app's identity lacks the "
                         f"'{role}' role on the vault", status=403, code="ForbiddenByRbac")
    return AuthError(f"Key Vault could not {action} secret {name!r}: {type(exc).__name__} (status {status})",
                     status=status)


class KeyVaultSecretStore:
    """Key Vault secrets through azure-keyvault-secrets, with the app's own identity. Reading needs the
    'Key Vault Secrets User' role, writing (refresh-token rotation, consent) 'Key Vault Secrets Officer'."""

    def __init__(self, vault_url: str, credential: Any, *, ca_bundle: str = "") -> None:
        from urllib.parse import urlsplit

        from azure.keyvault.secrets import SecretClient

        host = urlsplit(vault_url).hostname or ""
        options: dict[str, Any] = {}
        if host in ("127.0.0.1", "localhost"):
            # The challenge's resource is vault.azure.net; only a local stand-in may live elsewhere.
            options["verify_challenge_resource"] = False
        if ca_bundle:
            options["connection_verify"] = ca_bundle
        self.vault_url = vault_url
        self.client = SecretClient(vault_url, credential, **options)

    def _bundle(self, name: str) -> Any:
        from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

        try:
            return self.client.get_secret(name)
        except ResourceNotFoundError:
            return None
        except HttpResponseError as exc:
            raise _kv_error(exc, name, "read") from None

    def get(self, name: str) -> Secret | None:
        bundle = self._bundle(name)
        return None if bundle is None or bundle.value is None else Secret(bundle.value)

    def tags(self, name: str) -> dict[str, str]:
        bundle = self._bundle(name)
        return dict(bundle.properties.tags or {}) if bundle is not None else {}

    def set(self, name: str, value: str, tags: dict[str, str] | None = None) -> None:
        from azure.core.exceptions import HttpResponseError

        try:
            self.client.set_secret(name, value, content_type="application/x-refresh-token", tags=tags or None)
        except HttpResponseError as exc:
            raise _kv_error(exc, name, "write") from None


_lock = threading.Lock()
_stores: dict[tuple[str, str], SecretStore] = {}


def key_vault_store(settings: Settings, *, holds: str) -> SecretStore:
    """The vault at CSPB_KEY_VAULT_URL; `holds` names the secret for the message when it is not set."""
    if not settings.key_vault_url:
        raise ConfigError(f"CSPB_KEY_VAULT_URL is not set: {holds} lives in Key Vault")
    key = (settings.key_vault_url, settings.client_id)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = KeyVaultSecretStore(settings.key_vault_url, azure_credential(settings),
                                        ca_bundle=settings.ca_bundle)
            _stores[key] = store
        return store


def partner_center_store(settings: Settings) -> SecretStore:
    if settings.mode == "sandbox":
        with _lock:
            return _stores.setdefault(("sandbox", ""), InMemorySecretStore())
    return key_vault_store(settings, holds="the Partner Center refresh token")


def rotating_token_store(settings: Settings, *, holds: str) -> TokenStore:
    if settings.mode == "sandbox":
        return FileSecretStore(Path(settings.local_blob_root) / "_secrets")
    return key_vault_store(settings, holds=holds)


def reset_stores() -> None:
    """Forget the cached clients (tests that change the vault or identity between cases)."""
    with _lock:
        _stores.clear()
