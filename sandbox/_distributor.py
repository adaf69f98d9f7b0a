"""What the distributor sandboxes (Pax8, TD SYNNEX, Ingram Micro CMP) share: the access tokens they
issue and check, their state file, an OAuth token error, and the app that serves one with faults in
the provider's own error shape.

The wire differences stay with each sandbox: how a token is asked for, how lists page, what an
error body looks like.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox._server import SandboxApp, json_response


def zulu(when: datetime | None = None, timespec: str = "milliseconds") -> str:
    """An ISO-8601 UTC time with a "Z", as the providers print theirs (now, by default)."""
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class TokenBook:
    """The bearer tokens a sandbox issued, each with the epoch second it expires at. `store` is where
    they live (a sandbox that keeps them in its state file passes that dict)."""

    def __init__(self, store: dict[str, float] | None = None, clock: Callable[[], float] = time.time) -> None:
        self.store: dict[str, float] = {} if store is None else store
        self.clock = clock

    def issue(self, ttl: float, prefix: str = "") -> str:
        token = prefix + uuid.uuid4().hex
        self.store[token] = self.clock() + ttl
        return token

    def remaining(self, token: str) -> float | None:
        """Seconds the token has left, or None when it is unknown or has expired."""
        expires = self.store.get(token)
        if expires is None or expires < self.clock():
            return None
        return expires - self.clock()

    def bearer(self, request: Request) -> bool:
        """The request carries `Authorization: Bearer <a live token of ours>`."""
        auth = request.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and self.remaining(auth[7:].strip()) is not None

    def clear(self) -> None:
        """Revoke every token (the provider stopped taking them)."""
        self.store.clear()


def oauth_error(status: int, error: str, description: str) -> Response:
    """An OAuth 2.0 token endpoint's error (RFC 6749 5.2): {error, error_description}."""
    return json_response({"error": error, "error_description": description}, status)


class StateFile:
    """A sandbox's state as JSON under the state directory (none: kept in memory only), written whole
    through a temporary file so a reader never sees half of it."""

    def __init__(self, state_dir: Path | None, name: str) -> None:
        self.path = state_dir / name if state_dir else None

    def load(self, seed: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        if self.path is not None and self.path.exists():
            loaded: dict[str, Any] = json.loads(self.path.read_text())
            return loaded
        return seed()

    def save(self, state: dict[str, Any]) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.path)


# error(status, message, request) -> the provider's error response.
ErrorResponse = Callable[[int, str, Request], Response]


def distributor_app(sandbox: Callable[[Request], Response], error: ErrorResponse, *,
                    internal: str = "Internal Server Error") -> SandboxApp:
    """The sandbox behind SandboxApp, whose injected 429 / 500 answer in the provider's error shape."""
    app = SandboxApp(sandbox)
    app.faults.fault_response = lambda status, request: error(
        status, "Too Many Requests" if status == 429 else internal, request)
    app.sandbox = sandbox  # type: ignore[attr-defined]  # tests reach the state through here
    return app
