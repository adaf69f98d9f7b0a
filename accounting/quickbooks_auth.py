"""QuickBooks Online OAuth 2.0 and Intuit's per-realm limits.

Tokens (github:intuit/oauth-jsclient): POST https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer
with `Authorization: Basic base64(client_id:client_secret)` and a form body
grant_type=refresh_token&refresh_token=...; the answer has access_token (about an hour),
refresh_token, expires_in, x_refresh_token_expires_in. The refresh token may change on any
refresh, and only the newest one keeps working, so:
- it lives in the secret store (Key Vault in Azure), seeded once from CSPB_QUICKBOOKS_REFRESH_TOKEN;
- one writer: a single provider per (token URL, client, realm) in the process, refreshing through
  shared/rotating_token.py under a thread lock and a cross-process lock (a blob lease in Azure, a
  file lock locally), writes each new refresh token back before using the access token;
- a refused refresh re-reads the store once and tries the newer value (then the seed) before
  asking for a new consent;
- the access token is refreshed before it expires (a quarter of its life, at most five minutes
  early), and once more on a 401.

Limits (blogs.intuit.com 2016-08-08): 10 concurrent requests and 500 per minute per realm and
app. RealmLimiter holds every request of the process to both.
"""

from __future__ import annotations

import base64
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from shared.config import Settings
from shared.errors import AuthError, RetriableError
from shared.locks import CrossProcessLock, lock_for
from shared.logging import get_logger
from shared.rotating_token import RotatingRefreshToken
from shared.secret_store import TokenStore, rotating_token_store

log = get_logger(__name__)

# What the loopback sandbox issues to a fresh install (sandbox/quickbooks/server.py).
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"  # noqa: S105 - the loopback sandbox's fixed credential
SANDBOX_REFRESH_TOKEN = "sandbox-refresh-token"  # noqa: S105 - the loopback sandbox's first refresh token


def secret_store(settings: Settings) -> TokenStore:
    return rotating_token_store(settings, holds="the QuickBooks refresh token")


class QuickBooksTokens(RotatingRefreshToken):
    """Access tokens for QuickBooks from the rotating refresh token in `store`."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, store: TokenStore, secret_name: str, *,
                 seed: str = "", timeout: float = 30.0, lock: CrossProcessLock | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        if not client_id or not client_secret:
            raise AuthError("QuickBooks OAuth client id and secret are required (CSPB_QUICKBOOKS_CLIENT_ID/SECRET)")
        self.token_url = token_url
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self.timeout = timeout
        super().__init__(store, secret_name, self._redeem, seed=seed, refused=self._refusal, lock=lock,
                         default_lifetime=3600.0, clock=clock)

    @staticmethod
    def _refusal(_tried: list[str]) -> Exception:
        return AuthError("QuickBooks refused the stored refresh token; reconnect the app to QuickBooks (Intuit "
                         "consent) and put the new refresh token in CSPB_QUICKBOOKS_REFRESH_TOKEN")

    def _redeem(self, refresh_token: str) -> dict[str, Any] | None:
        """The token answer, or None when Intuit refuses this refresh token (invalid_grant)."""
        try:
            response = requests.post(self.token_url, data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                                     headers={"Authorization": f"Basic {self._basic}", "Accept": "application/json"},
                                     timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetriableError(f"QuickBooks token endpoint unreachable: {type(exc).__name__}") from exc
        if response.status_code in (429, 500, 502, 503, 504):
            raise RetriableError(f"QuickBooks token endpoint answered {response.status_code}",
                                 status=response.status_code)
        body: dict[str, Any]
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):  # an answer that is JSON but no object carries no token either
            body = {}
        if response.status_code == 200 and body.get("access_token"):
            return body
        if body.get("error") == "invalid_grant":
            return None
        # invalid_client and the like: the app's own credentials are wrong; no secret in the message.
        raise AuthError(f"QuickBooks token endpoint refused the app: {body.get('error', response.status_code)}",
                        status=response.status_code, code=str(body.get("error") or ""))


class RealmLimiter:
    """At most `max_concurrent` requests in flight and `per_minute` started in any 60 s."""

    def __init__(self, max_concurrent: int = 10, per_minute: int = 500, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.max_concurrent = max_concurrent
        self.per_minute = per_minute
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()
        self.clock = clock
        self.sleep = sleep

    @contextmanager
    def slot(self) -> Iterator[None]:
        with self._slots:
            while True:
                with self._lock:
                    now = self.clock()
                    while self._starts and now - self._starts[0] >= 60:
                        self._starts.popleft()
                    if len(self._starts) < self.per_minute:
                        self._starts.append(now)
                        break
                    wait = 60 - (now - self._starts[0])
                self.sleep(max(wait, 0.01))
            yield


_lock = threading.Lock()
_tokens: dict[tuple[str, str, str], QuickBooksTokens] = {}
_limiters: dict[str, RealmLimiter] = {}


def tokens_for(settings: Settings, realm_id: str) -> QuickBooksTokens:
    """The process's one token provider (and so its one refresh-token writer) for this realm."""
    sandbox = settings.mode == "sandbox"
    token_url = (settings.quickbooks_url.rstrip("/") + "/oauth2/v1/tokens/bearer") if sandbox \
        else settings.quickbooks_token_url
    client_id = settings.quickbooks_client_id or (SANDBOX_CLIENT_ID if sandbox else "")
    secret = settings.quickbooks_client_secret.reveal() or (SANDBOX_CLIENT_SECRET if sandbox else "")
    seed = settings.quickbooks_refresh_token.reveal() or (SANDBOX_REFRESH_TOKEN if sandbox else "")
    key = (token_url, client_id, realm_id)
    with _lock:
        provider = _tokens.get(key)
        if provider is None or provider.store_key != _store_key(settings):  # type: ignore[attr-defined]
            name = settings.quickbooks_refresh_token_secret_name
            provider = QuickBooksTokens(token_url, client_id, secret, secret_store(settings), name, seed=seed,
                                        timeout=settings.http_timeout_seconds, lock=lock_for(settings, name))
            provider.store_key = _store_key(settings)  # type: ignore[attr-defined]
            _tokens[key] = provider
        return provider


def _store_key(settings: Settings) -> str:
    return f"{settings.mode}|{settings.local_blob_root}|{settings.key_vault_url}"


def limiter_for(settings: Settings, realm_id: str) -> RealmLimiter:
    with _lock:
        limiter = _limiters.get(realm_id)
        if limiter is None or (limiter.max_concurrent, limiter.per_minute) != (
                settings.quickbooks_max_concurrent, settings.quickbooks_requests_per_minute):
            limiter = RealmLimiter(settings.quickbooks_max_concurrent, settings.quickbooks_requests_per_minute)
            _limiters[realm_id] = limiter
        return limiter
