"""SQLite rows for the sandbox: one JSON document per row, a version counter for etags, a
unique index per alternate key, and an index of every lookup's target (what Dataverse indexes on
each lookup column), so reading the children of a set of parents does not scan the table. One
connection behind a lock: SQLite serialises writers anyway and the sandbox needs changesets
(several writes, one commit) to be atomic across threads."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (entity TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
                                 data TEXT NOT NULL, PRIMARY KEY (entity, id));
CREATE TABLE IF NOT EXISTS keys (entity TEXT NOT NULL, keyname TEXT NOT NULL, value TEXT NOT NULL,
                                 id TEXT NOT NULL, PRIMARY KEY (entity, keyname, value));
CREATE INDEX IF NOT EXISTS keys_by_row ON keys (entity, id);
CREATE TABLE IF NOT EXISTS refs (entity TEXT NOT NULL, target TEXT NOT NULL, id TEXT NOT NULL,
                                 PRIMARY KEY (entity, target, id));
CREATE INDEX IF NOT EXISTS refs_by_row ON refs (entity, id);
"""

# Bumped when a table above is added: an older state directory is brought up to date on open.
_SCHEMA_VERSION = 2


def _lookup_targets(data: dict[str, Any]) -> set[str]:
    """The row ids this row's lookups point at (a lookup is stored as {"id": ..., "table": ...})."""
    return {str(v["id"]).lower() for v in data.values() if isinstance(v, dict) and v.get("id")}


class DuplicateKey(Exception):
    def __init__(self, keyname: str) -> None:
        super().__init__(keyname)
        self.keyname = keyname


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        if self._db.execute("PRAGMA user_version").fetchone()[0] < _SCHEMA_VERSION:
            self._index_lookups()
        self._local = threading.local()
        self._version = self._db.execute("SELECT COALESCE(MAX(version), 1000) FROM rows").fetchone()[0]
        self.generation = 0  # bumped by every write or delete: lets readers cache a query's rows

    # ---- transactions --------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[list[Callable[[], None]]]:
        """Nested calls join the outer transaction. Yields a list of callbacks run after COMMIT
        (webhooks fire only for writes that were kept)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield self._local.after_commit
            finally:
                self._local.depth = depth
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._local.depth = 1
            self._local.after_commit = []
            saved_version = self._version
            try:
                yield self._local.after_commit
            except BaseException:
                self._db.execute("ROLLBACK")
                self._version = saved_version
                self._local.depth = 0
                raise
            self._db.execute("COMMIT")
            self._local.depth = 0
            callbacks, self._local.after_commit = self._local.after_commit, []
        for callback in callbacks:
            callback()

    def _index_lookups(self) -> None:
        """Fills the lookup index from the rows (a state directory written before it existed)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM refs")
            for entity, row_id, data in self._db.execute("SELECT entity, id, data FROM rows").fetchall():
                self._db.executemany("INSERT OR IGNORE INTO refs (entity, target, id) VALUES (?, ?, ?)",
                                     [(entity, t, row_id) for t in _lookup_targets(json.loads(data))])
            self._db.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
            self._db.execute("COMMIT")

    def _next_version(self) -> int:
        self._version += 1
        return self._version

    # ---- rows ----------------------------------------------------------------------------------

    def get(self, entity: str, row_id: str) -> tuple[int, dict[str, Any]] | None:
        with self._lock:
            found = self._db.execute("SELECT version, data FROM rows WHERE entity=? AND id=?",
                                     (entity, row_id)).fetchone()
        return (found[0], json.loads(found[1])) if found else None

    def find_key(self, entity: str, keyname: str, value: str) -> str | None:
        with self._lock:
            found = self._db.execute("SELECT id FROM keys WHERE entity=? AND keyname=? AND value=?",
                                     (entity, keyname, value)).fetchone()
        return found[0] if found else None

    def scan(self, entity: str, containing: str | tuple[str, ...] | None = None) -> list[tuple[str, int, dict[str, Any]]]:
        """Every row of `entity`; with `containing` (a row id or several), only the rows one of
        whose lookups points at one of them: a prefilter through the lookup index, the caller
        still applies its exact filter. A 50-parent read over 57,000 children touches the few
        hundred it can match, in SQLite, whatever the table's size."""
        targets = (containing,) if isinstance(containing, str) else containing
        with self._lock:
            if targets:
                marks = ", ".join("?" for _ in targets)
                rows = self._db.execute(
                    f"SELECT id, version, data FROM rows WHERE entity=? AND id IN "
                    f"(SELECT id FROM refs WHERE entity=? AND target IN ({marks}))",
                    (entity, entity, *(t.lower() for t in targets))).fetchall()
            else:
                rows = self._db.execute("SELECT id, version, data FROM rows WHERE entity=?", (entity,)).fetchall()
        return [(r[0], r[1], json.loads(r[2])) for r in rows]

    def put(self, entity: str, row_id: str, data: dict[str, Any], keys: dict[str, str]) -> int:
        """Insert or replace a row and its alternate-key entries. Call inside transaction()."""
        version = self._next_version()
        self.generation += 1
        self._db.execute("INSERT OR REPLACE INTO rows (entity, id, version, data) VALUES (?, ?, ?, ?)",
                         (entity, row_id, version, json.dumps(data)))
        self._db.execute("DELETE FROM keys WHERE entity=? AND id=?", (entity, row_id))
        self._db.execute("DELETE FROM refs WHERE entity=? AND id=?", (entity, row_id))
        self._db.executemany("INSERT INTO refs (entity, target, id) VALUES (?, ?, ?)",
                             [(entity, t, row_id) for t in _lookup_targets(data)])
        for keyname, value in keys.items():
            try:
                self._db.execute("INSERT INTO keys (entity, keyname, value, id) VALUES (?, ?, ?, ?)",
                                 (entity, keyname, value, row_id))
            except sqlite3.IntegrityError as exc:
                raise DuplicateKey(keyname) from exc
        return version

    def delete(self, entity: str, row_id: str) -> None:
        self.generation += 1
        self._db.execute("DELETE FROM rows WHERE entity=? AND id=?", (entity, row_id))
        self._db.execute("DELETE FROM keys WHERE entity=? AND id=?", (entity, row_id))
        self._db.execute("DELETE FROM refs WHERE entity=? AND id=?", (entity, row_id))

    def count(self, entity: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM rows WHERE entity=?", (entity,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
