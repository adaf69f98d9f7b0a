"""TD SYNNEX StreamOne Ion access tokens from a refresh token that rotates on every use.

POST https://ion.tdsynnex.com/oauth/token, form body grant_type=refresh_token&refresh_token=...,
no client id or secret (distributors_facts.md 1.2). Each answer carries a new refresh token and
the redeemed one dies, so:
- the refresh token lives in the secret store (Key Vault in Azure, a file under the local blob
  root in sandbox mode), seeded once from CSPB_TDSYNNEX_REFRESH_TOKEN;
- one writer per process: one provider per (token URL, secret name) refreshes under a lock and
  writes the new refresh token to the store *before* the access token is used;
- a refused refresh re-reads the store (another process may have rotated it) and then tries the
  seed (a newly minted token put in the setting), before it says plainly what a person must do;
- a lost answer (timeout, dropped connection) may have rotated the token on the server without
  our knowing the new one. That is recorded in the store, reported plainly, and the next
  attempt tries the stored token once more (the request may never have arrived); if TD SYNNEX
  refuses it, the message names the lost answer and the portal steps to mint a new token.
Across processes there is no lock: two Function instances refreshing at the same moment can
strand the token. CSPB_MAX_INSTANCES=1 for the provisioning app, or a longer-lived access
token cache, keeps that rare; the refusal message then says what to do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from shared.errors import AuthError, RetriableError
from shared.logging import get_logger

log = get_logger(__name__)

MINT_STEPS = ("an Account Admin mints new OAuth credentials in StreamOne Ion (Settings > Users > Edit user > "
              "Request New Credentials) and puts the refresh token in CSPB_TDSYNNEX_REFRESH_TOKEN")


# The loopback sandbox's first refresh token (sandbox/tdsynnex/server.py FIRST_REFRESH_TOKEN).
SANDBOX_REFRESH_TOKEN = "sandbox-tdsynnex-refresh-token"  # noqa: S105


class RefreshTokenLost(RetriableError):
    """TD SYNNEX's token answer never arrived: the refresh token may have rotated out of our reach."""


class TdSynnexTokens:
    def __init__(self, token_url: str, store: Any, secret_name: str, *, seed: str = "", timeout: float = 30.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.token_url = token_url
        self.store = store
        self.secret_name = secret_name
        self._seed = seed
        self.timeout = timeout
        self.clock = clock
        self._lock = threading.Lock()
        self._token = ""
        self._expires = 0.0
        self._early = 0.0
        self.refreshes = 0

    @property
    def _lost_name(self) -> str:
        return f"{self.secret_name}-lost"

    def __call__(self) -> str:
        with self._lock:
            if self._token and self.clock() < self._expires - self._early:
                return self._token
            self._refresh()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = ""

    def _stored(self) -> str:
        value = self.store.get(self.secret_name)
        return value.reveal() if value else ""

    def _refresh(self) -> None:
        tried: list[str] = []
        for candidate in (self._stored(), None, self._seed):
            if candidate is None:  # re-read: another process may have rotated it while we tried
                candidate = self._stored()
            if not candidate or candidate in tried:
                continue
            tried.append(candidate)
            answer = self._redeem(candidate)
            if answer is None:
                continue
            new_refresh = answer.get("refresh_token") or ""
            if not new_refresh:
                raise AuthError("TD SYNNEX's token answer had no refresh_token; the old one is spent. "
                                f"To reconnect, {MINT_STEPS}")
            # Persisted before the access token is used: if we die after this line the store holds the live token.
            self.store.set(self.secret_name, new_refresh)
            if self.store.get(self._lost_name):
                self.store.set(self._lost_name, "")
            self._token = answer["access_token"]
            lifetime = float(answer.get("expires_in") or 7200)
            self._expires = self.clock() + lifetime
            self._early = min(300.0, lifetime / 4)
            self.refreshes += 1
            return
        lost = self.store.get(self._lost_name)
        lost_at = lost.reveal() if lost else ""
        why = (f" An earlier token answer was lost ({lost_at}), so the refresh token TD SYNNEX rotated to never "
               "reached us." if lost_at else "")
        if not tried:
            raise AuthError(f"no TD SYNNEX refresh token is configured. To connect, {MINT_STEPS}")
        raise AuthError(f"TD SYNNEX refused the stored refresh token (it is single-use and rotates on every "
                        f"refresh).{why} To reconnect, {MINT_STEPS}", code="invalid_grant")

    def _redeem(self, refresh_token: str) -> dict[str, Any] | None:
        """The token answer, or None when TD SYNNEX refuses this refresh token."""
        try:
            response = requests.post(self.token_url, data={"grant_type": "refresh_token",
                                                           "refresh_token": refresh_token,
                                                           "redirect_uri": "http://localhost/"},
                                     headers={"Accept": "application/json"}, timeout=self.timeout)
            body = response.json() if response.content else {}
        except (requests.ConnectionError, requests.Timeout, ValueError) as exc:
            when = datetime.now(UTC).isoformat(timespec="seconds")
            self.store.set(self._lost_name, f"at {when}, {type(exc).__name__}")
            log.warning("TD SYNNEX token answer lost (%s); the refresh token may have rotated", type(exc).__name__)
            raise RefreshTokenLost(
                f"TD SYNNEX's token answer was lost ({type(exc).__name__} at {when}). Its refresh token rotates on "
                "every use, so the stored one may be spent: the next attempt tries it once more, and if TD SYNNEX "
                f"refuses it, {MINT_STEPS}") from exc
        if response.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            return body
        if response.status_code in (429, 500, 502, 503, 504):
            raise RetriableError(f"TD SYNNEX token endpoint answered {response.status_code}",
                                 status=response.status_code)
        code = str(body.get("error") or "") if isinstance(body, dict) else ""
        if response.status_code in (400, 401) and code in ("invalid_grant", "invalid_token", "unauthorized", ""):
            return None
        raise AuthError(f"TD SYNNEX token endpoint refused the request: {code or response.status_code}",
                        status=response.status_code, code=code)


def _secret_store(settings: Any) -> Any:
    """Key Vault in Azure; in sandbox mode a file store under the local blob root."""
    if settings.mode == "sandbox":
        from pathlib import Path

        from shared.secret_files import FileSecretStore

        return FileSecretStore(Path(settings.local_blob_root) / "_secrets")
    from partnercenter.auth import secret_store_for

    return secret_store_for(settings)


_lock = threading.Lock()
_providers: dict[tuple[str, str, str], TdSynnexTokens] = {}


def tokens_for(settings: Any) -> TdSynnexTokens:
    """The process's one token provider (so its one refresh-token writer) for these settings."""
    sandbox = settings.mode == "sandbox"
    token_url = settings.tdsynnex_url.rstrip("/") + "/oauth/token"
    seed = settings.tdsynnex_refresh_token.reveal() or (SANDBOX_REFRESH_TOKEN if sandbox else "")
    store_key = f"{settings.mode}|{settings.local_blob_root}|{settings.key_vault_url}"
    key = (token_url, settings.tdsynnex_refresh_token_secret_name, store_key)
    with _lock:
        provider = _providers.get(key)
        if provider is None:
            provider = TdSynnexTokens(token_url, _secret_store(settings), settings.tdsynnex_refresh_token_secret_name,
                                      seed=seed, timeout=settings.http_timeout_seconds)
            _providers[key] = provider
        return provider
