"""Access tokens from a refresh token that rotates: the one writer of a stored refresh token.

QuickBooks Online and TD SYNNEX StreamOne Ion both hand out a new refresh token with every access
token, and only the newest works (TD SYNNEX's dies on use; Intuit's may change on any refresh).
What they share lives here; how a token is redeemed stays with each provider (`redeem`):
- the refresh token lives in the secret store (Key Vault in Azure, files in sandbox mode), seeded
  once from a setting;
- one refresh at a time: a thread lock inside the process and a cross-process lock
  (shared/locks.py: a blob lease in Azure, a file lock locally) around read -> redeem -> write, so
  two Function instances never spend the same token;
- the new refresh token is written to the store *before* the access token is used: if the process
  dies after the write, the store holds the live token;
- every redeemer of one stored token in a process may share a `TokenSlot` (`shared_slot`): Partner
  Center redeems one refresh token for several audiences, each caching its own access token, and they
  must still refresh one at a time;
- a refused token makes it re-read the store (a writer that does not take the lock, e.g. an older
  deployment, may have rotated it) and then try the seed (a newly minted token put in the setting),
  before `refused` says plainly what a person must do;
- a write-back the store refuses (Key Vault without the Secrets Officer role) is logged, and the new
  token is kept in the slot: this process goes on with it and writes it again at the next refresh,
  instead of redeeming a token the provider already rotated;
- the access token is reused until a quarter of its life (at most five minutes) before it expires,
  and `invalidate()` drops it after a 401.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from typing import Any

from shared.errors import AuthError
from shared.locks import CrossProcessLock
from shared.logging import get_logger
from shared.secret_store import TokenStore

log = get_logger(__name__)

# redeem(refresh_token) -> the token answer ({access_token, refresh_token?, expires_in?}), or None when the
# provider refuses that refresh token. Transport trouble raises (RetriableError or the provider's own).
Redeem = Callable[[str], Mapping[str, Any] | None]


class TokenSlot:
    """What the redeemers of one stored refresh token in a process share: the thread lock that makes
    read -> redeem -> write one step, and the newest token while writing it back keeps failing."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.unsaved = ""


_slots: dict[tuple[int, str], tuple[object, TokenSlot]] = {}
_slots_guard = threading.Lock()


def shared_slot(store: object, secret_name: str) -> TokenSlot:
    """The process's one slot for `secret_name` in `store`."""
    with _slots_guard:
        # The store is kept with its slot, so its id is never reused by another store.
        return _slots.setdefault((id(store), secret_name), (store, TokenSlot()))[1]


class RotatingRefreshToken:
    def __init__(self, store: TokenStore, secret_name: str, redeem: Redeem, *, seed: str = "",
                 refused: Callable[[list[str]], Exception],
                 lock: CrossProcessLock | None = None, slot: TokenSlot | None = None, rotates_always: bool = False,
                 missing_refresh: Callable[[], Exception] | None = None, default_lifetime: float = 3600.0,
                 after_refresh: Callable[[], None] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.secret_name = secret_name
        self._redeem_token = redeem
        self._seed = seed
        self._refused = refused
        self.lock = lock
        # A provider whose every answer must carry the next refresh token (the old one is spent).
        self.rotates_always = rotates_always
        self._missing_refresh = missing_refresh
        self.default_lifetime = default_lifetime
        self._after_refresh = after_refresh
        self.clock = clock
        self.slot = slot or TokenSlot()
        self._thread_lock = self.slot.lock
        self._token = ""
        self._expires = 0.0
        self._early = 0.0
        self.refreshes = 0

    def __call__(self) -> str:
        token = self._token
        if token and self._fresh():
            # Without the lock: redeemers sharing a slot must not wait on one another's refresh for a cached token.
            return token
        with self._thread_lock:
            if self._fresh():
                return self._token
            with self.lock.hold() if self.lock is not None else nullcontext():
                self._refresh()
            return self._token

    def invalidate(self) -> None:
        with self._thread_lock:
            self._token = ""

    def _fresh(self) -> bool:
        return bool(self._token) and self.clock() < self._expires - self._early

    def stored(self) -> str:
        value = self.store.get(self.secret_name)
        return value.reveal() if value else ""

    def write(self, refresh_token: str) -> None:
        """Store the new refresh token (a provider whose secret carries tags keeps them here)."""
        self.store.set(self.secret_name, refresh_token)

    def _write_back(self, refresh_token: str) -> None:
        try:
            self.write(refresh_token)
        except AuthError as exc:
            self.slot.unsaved = refresh_token
            log.error("the new refresh token for %s could not be written back (%s); this process keeps using it, "
                      "but another one will not find it", self.secret_name, exc.message)
        else:
            self.slot.unsaved = ""

    def _refresh(self) -> None:
        latest = self.stored()
        tried: list[str] = []
        for candidate in (self.slot.unsaved or latest, None, self._seed):
            if candidate is None:  # after a refusal: someone may have rotated it meanwhile
                candidate = latest = self.stored() if tried else latest
            if not candidate or candidate in tried:
                continue
            tried.append(candidate)
            answer = self._redeem_token(candidate)
            if answer is None:
                continue
            new_refresh = str(answer.get("refresh_token") or "")
            if not new_refresh:
                if self.rotates_always:
                    raise (self._missing_refresh() if self._missing_refresh else
                           AuthError("the token answer had no refresh_token; the old one is spent"))
                new_refresh = candidate
            if new_refresh != latest:
                # Persisted before the access token is used.
                self._write_back(new_refresh)
            else:
                self.slot.unsaved = ""
            lifetime = float(answer.get("expires_in") or self.default_lifetime)
            self._token = str(answer["access_token"])
            self._expires = self.clock() + lifetime
            self._early = min(300.0, lifetime / 4)
            self.refreshes += 1
            if self._after_refresh is not None:
                self._after_refresh()
            return
        raise self._refused(tried)
