"""Signed, expiring session cookies (itsdangerous, through shared.signing).

The session holds only ids, the role, the language, the CSRF token and flash messages; it is
signed, not encrypted, so nothing secret goes in it."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from shared.signing import BadSignature, serializer

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

    def pop(self, key: str, *default: Any) -> Any:
        self.modified = self.modified or key in self
        return super().pop(key, *default)

    def clear(self) -> None:
        super().clear()
        self.modified = True


class SessionSigner:
    def __init__(self, key: bytes, max_age: int = MAX_AGE_SECONDS) -> None:
        if len(key) < 16:
            raise ValueError("session key too short")
        self._serializer = serializer(key, "cspbridge/portal-session")
        self.max_age = max_age

    @classmethod
    def random(cls) -> SessionSigner:
        return cls(secrets.token_bytes(32))

    def dumps(self, session: dict[str, Any], now: float | None = None) -> str:
        payload = dict(session, _iat=int(now if now is not None else time.time()))
        return str(self._serializer.dumps(json.loads(json.dumps(payload, default=str))))

    def loads(self, cookie: str | None, now: float | None = None) -> Session:
        """A tampered, expired or malformed cookie yields an empty session, never an error page."""
        if not cookie or "." not in cookie:
            return Session()
        try:
            data = self._serializer.loads(cookie)
        except (BadSignature, ValueError):
            return Session()
        if not isinstance(data, dict):
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
