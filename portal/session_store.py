"""Server-side record of live portal sessions, so signing out ends a session everywhere.

The signed cookie carries a random session id; a request counts as signed in only while that id is in
the store. Sign-out deletes it, so a copied or replayed cookie is worthless afterwards. The store keeps
sha256(id), never the id itself. The blob-backed store is shared by every Function instance (Blob
Storage in Azure, a local folder otherwise)."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Protocol

from shared.blobstore import BlobStore
from shared.errors import NotFoundError

PREFIX = "portal-sessions"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore(Protocol):
    def issue(self, max_age: int) -> str: ...
    def is_live(self, session_id: str) -> bool: ...
    def revoke(self, session_id: str) -> None: ...


class InMemorySessionStore:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._live: dict[str, float] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def issue(self, max_age: int) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._live[_key(session_id)] = self._clock() + max_age
        return session_id

    def is_live(self, session_id: str) -> bool:
        if not session_id:
            return False
        with self._lock:
            return self._live.get(_key(session_id), 0) > self._clock()

    def revoke(self, session_id: str) -> None:
        with self._lock:
            self._live.pop(_key(session_id), None)


class BlobSessionStore:
    def __init__(self, store: BlobStore, clock: Callable[[], float] = time.time) -> None:
        self._blobs = store
        self._clock = clock

    def issue(self, max_age: int) -> str:
        session_id = secrets.token_urlsafe(32)
        expires = self._clock() + max_age
        self._blobs.put(f"{PREFIX}/{_key(session_id)}", json.dumps({"expires": expires}).encode(),
                        content_type="application/json")
        return session_id

    def is_live(self, session_id: str) -> bool:
        if not session_id:
            return False
        try:
            record = json.loads(self._blobs.get(f"{PREFIX}/{_key(session_id)}"))
        except (NotFoundError, ValueError):
            return False
        return float(record.get("expires", 0)) > self._clock()

    def revoke(self, session_id: str) -> None:
        if session_id:
            self._blobs.delete(f"{PREFIX}/{_key(session_id)}")
