"""TD SYNNEX StreamOne Ion access tokens from a refresh token that rotates on every use.

POST https://ion.tdsynnex.com/oauth/token, form body grant_type=refresh_token&refresh_token=...,
no client id or secret (distributors_facts.md 1.2). Each answer carries a new refresh token and
the redeemed one dies, so:
- the refresh token lives in the secret store (Key Vault in Azure, a file under the local blob
  root in sandbox mode), seeded once from CSPB_TDSYNNEX_REFRESH_TOKEN;
- one writer: shared/rotating_token.py refreshes under a thread lock and a cross-process lock (a
  blob lease in Azure, a file lock locally), and writes the new refresh token to the store *before*
  the access token is used, so two Function instances never spend the same token;
- a refused refresh re-reads the store and then tries the seed (a newly minted token put in the
  setting), before it says plainly what a person must do;
- a lost answer (timeout, dropped connection) may have rotated the token on the server without
  our knowing the new one. That is recorded in the store, reported plainly, and the next
  attempt tries the stored token once more (the request may never have arrived); if TD SYNNEX
  refuses it, the message names the lost answer and the portal steps to mint a new token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests

from shared.config import Settings
from shared.errors import AuthError, RetriableError, error_for_status
from shared.http import parse_retry_after
from shared.locks import CrossProcessLock, lock_for
from shared.logging import get_logger
from shared.rotating_token import RotatingRefreshToken
from shared.secret_store import TokenStore, rotating_token_store

log = get_logger(__name__)

MINT_STEPS = ("an Account Admin mints new OAuth credentials in StreamOne Ion (Settings > Users > Edit user > "
              "Request New Credentials) and puts the refresh token in CSPB_TDSYNNEX_REFRESH_TOKEN")


# The loopback sandbox's first refresh token (sandbox/tdsynnex/server.py FIRST_REFRESH_TOKEN).
SANDBOX_REFRESH_TOKEN = "sandbox-tdsynnex-refresh-token"  # noqa: S105


class RefreshTokenLost(RetriableError):
    """TD SYNNEX's token answer never arrived: the refresh token may have rotated out of our reach."""


class TdSynnexTokens(RotatingRefreshToken):
    def __init__(self, token_url: str, store: TokenStore, secret_name: str, *, seed: str = "", timeout: float = 30.0,
                 lock: CrossProcessLock | None = None, clock: Callable[[], float] = time.time) -> None:
        self.token_url = token_url
        self.timeout = timeout
        super().__init__(store, secret_name, self._redeem, seed=seed, refused=self._refusal, lock=lock,
                         rotates_always=True, missing_refresh=self._no_refresh, default_lifetime=7200.0,
                         after_refresh=self._clear_lost, clock=clock)

    @property
    def _lost_name(self) -> str:
        return f"{self.secret_name}-lost"

    def _clear_lost(self) -> None:
        if self.store.get(self._lost_name):
            self.store.set(self._lost_name, "")

    @staticmethod
    def _no_refresh() -> Exception:
        return AuthError(f"TD SYNNEX's token answer had no refresh_token; the old one is spent. To reconnect, {MINT_STEPS}")

    def _refusal(self, tried: list[str]) -> Exception:
        if not tried:
            return AuthError(f"no TD SYNNEX refresh token is configured. To connect, {MINT_STEPS}")
        lost = self.store.get(self._lost_name)
        lost_at = lost.reveal() if lost else ""
        why = (f" An earlier token answer was lost ({lost_at}), so the refresh token TD SYNNEX rotated to never "
               "reached us." if lost_at else "")
        return AuthError(f"TD SYNNEX refused the stored refresh token (it is single-use and rotates on every "
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
            # ThrottledError for a 429, with TD SYNNEX's Retry-After when it sends one.
            raise error_for_status(response.status_code)(
                f"TD SYNNEX token endpoint answered {response.status_code}", status=response.status_code,
                retry_after=parse_retry_after(response.headers.get("Retry-After")))
        code = str(body.get("error") or "") if isinstance(body, dict) else ""
        if response.status_code in (400, 401) and code in ("invalid_grant", "invalid_token", "unauthorized", ""):
            return None
        raise AuthError(f"TD SYNNEX token endpoint refused the request: {code or response.status_code}",
                        status=response.status_code, code=code)


_lock = threading.Lock()
_providers: dict[tuple[str, str, str], TdSynnexTokens] = {}


def tokens_for(settings: Settings) -> TdSynnexTokens:
    """The process's one token provider (so its one refresh-token writer) for these settings."""
    sandbox = settings.mode == "sandbox"
    token_url = settings.tdsynnex_url.rstrip("/") + "/oauth/token"
    seed = settings.tdsynnex_refresh_token.reveal() or (SANDBOX_REFRESH_TOKEN if sandbox else "")
    store_key = f"{settings.mode}|{settings.local_blob_root}|{settings.key_vault_url}"
    key = (token_url, settings.tdsynnex_refresh_token_secret_name, store_key)
    with _lock:
        provider = _providers.get(key)
        if provider is None:
            name = settings.tdsynnex_refresh_token_secret_name
            store = rotating_token_store(settings, holds="the TD SYNNEX refresh token")
            provider = TdSynnexTokens(token_url, store, name, seed=seed,
                                      timeout=settings.http_timeout_seconds, lock=lock_for(settings, name))
            _providers[key] = provider
        return provider
