"""shared/rotating_token.py on its own: a write-back the store refuses keeps the new token in the process
(TD SYNNEX's redeemed token is dead, so losing the new one would strand the connection), and redeemers
sharing a slot refresh one at a time."""

from __future__ import annotations

import threading

import pytest

from shared.config import Secret
from shared.errors import AuthError
from shared.rotating_token import RotatingRefreshToken, TokenSlot, shared_slot


class Store:
    def __init__(self, value: str, *, refuse_writes: int = 0) -> None:
        self.value = value
        self.refuse_writes = refuse_writes
        self.writes: list[str] = []

    def get(self, name: str) -> Secret | None:
        return Secret(self.value) if self.value else None

    def set(self, name: str, value: str) -> None:
        if self.refuse_writes:
            self.refuse_writes -= 1
            raise AuthError("Key Vault refused to write secret: lacks the 'Key Vault Secrets Officer' role", status=403)
        self.value = value
        self.writes.append(value)


class SingleUse:
    """A provider whose refresh token dies on use and which answers with the next one."""

    def __init__(self, live: str) -> None:
        self.live = live
        self.redeemed: list[str] = []

    def __call__(self, token: str) -> dict[str, object] | None:
        self.redeemed.append(token)
        if token != self.live:
            return None
        self.live = f"rt-{len(self.redeemed)}"
        return {"access_token": f"at-{len(self.redeemed)}", "refresh_token": self.live, "expires_in": 3600}


def _tokens(store: Store, provider: SingleUse, now: list[float], slot: TokenSlot | None = None) -> RotatingRefreshToken:
    return RotatingRefreshToken(store, "rt", provider, refused=lambda tried: AuthError(f"refused after {len(tried)}"),
                                rotates_always=True, slot=slot, clock=lambda: now[0])


def test_a_refused_write_back_keeps_the_new_token_and_writes_it_next_time() -> None:
    store, provider, now = Store("rt-0", refuse_writes=1), SingleUse("rt-0"), [0.0]
    tokens = _tokens(store, provider, now)
    assert tokens() == "at-1"
    assert store.value == "rt-0" and tokens.slot.unsaved == "rt-1"
    now[0] += 3600
    # The stale stored token is not redeemed: the kept one is, and its successor is written.
    assert tokens() == "at-2"
    assert provider.redeemed == ["rt-0", "rt-1"]
    assert store.writes == ["rt-2"] and tokens.slot.unsaved == ""


def test_redeemers_on_one_slot_refresh_one_at_a_time() -> None:
    store, provider, now = Store("rt-0"), SingleUse("rt-0"), [0.0]
    slot = shared_slot(store, "rt")
    assert shared_slot(store, "rt") is slot and shared_slot(Store("x"), "rt") is not slot
    many = [_tokens(store, provider, now, slot) for _ in range(8)]
    results: list[str] = []
    threads = [threading.Thread(target=lambda t=t: results.append(t())) for t in many]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Each redemption used the token the one before wrote: never a spent one.
    assert sorted(results) == sorted(f"at-{n}" for n in range(1, 9))
    assert provider.redeemed == ["rt-0"] + [f"rt-{n}" for n in range(1, 8)]
    assert store.value == "rt-8"


def test_nothing_stored_and_no_seed_is_the_refusal() -> None:
    with pytest.raises(AuthError, match="refused after 0"):
        _tokens(Store(""), SingleUse("rt-0"), [0.0])()
