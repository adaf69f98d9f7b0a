"""Signed, expiring session cookies (HMAC-SHA256 over a base64 JSON body).

The session holds only ids, the role, the language, the CSRF token and flash messages; it is
signed, not encrypted, so nothing secret goes in it."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from typing import Any

from shared.signing import b64url, sign, unb64url

COOKIE_NAME = "cspb_portal"
MAX_AGE_SECONDS = 8 * 3600
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


class Session(dict[str, Any]):
    """A dict that knows whether it changed, so unchanged sessions are not re-sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.modified = True

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self.modified = self.modified or key in self
        return super().pop(key, *default)

    def clear(self) -> None:
        super().clear()
        self.modified = True


class SessionSigner:
    def __init__(self, key: bytes, max_age: int = MAX_AGE_SECONDS) -> None:
        if len(key) < 16:
            raise ValueError("session key too short")
        self._key = key
        self.max_age = max_age

    @classmethod
    def random(cls) -> SessionSigner:
        return cls(secrets.token_bytes(32))

    def _sign(self, body: str) -> str:
        return sign(self._key, body)

    def dumps(self, session: dict[str, Any], now: float | None = None) -> str:
        payload = dict(session, _iat=int(now if now is not None else time.time()))
        body = b64url(json.dumps(payload, separators=(",", ":"), default=str).encode())
        return f"{body}.{self._sign(body)}"

    def loads(self, cookie: str | None, now: float | None = None) -> Session:
        """A tampered, expired or malformed cookie yields an empty session, never an error page."""
        if not cookie or "." not in cookie:
            return Session()
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return Session()
        try:
            data = json.loads(unb64url(body))
        except (ValueError, json.JSONDecodeError):
            return Session()
        issued = data.pop("_iat", 0)
        if (now if now is not None else time.time()) - issued > self.max_age:
            return Session()
        return Session(data)


def cookie_is_secure(host: str) -> bool:
    """Secure everywhere except plain-HTTP loopback, where a Secure cookie would never come back."""
    if host.startswith("["):
        name = host.split("]")[0] + "]"
    else:
        name = host.rsplit(":", 1)[0]
    return name.lower() not in LOOPBACK_HOSTS
