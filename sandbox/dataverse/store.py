"""SQLite rows for the sandbox: one JSON document per row, a version counter for etags, and a
unique index per alternate key. One connection behind a lock: SQLite serialises writers anyway and
the sandbox needs changesets (several writes, one commit) to be atomic across threads."""

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
"""


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
        """Every row of `entity`; with `containing`, only rows whose stored JSON holds that text (or
        one of those texts): a prefilter, the caller still applies its exact filter. Done in SQLite,
        so a 50-id filter over 50,000 rows decodes the few hundred rows it can match, not all."""
        with self._lock:
            if isinstance(containing, tuple) and containing:
                anyof = " OR ".join("instr(data, ?) > 0" for _ in containing)
                rows = self._db.execute(f"SELECT id, version, data FROM rows WHERE entity=? AND ({anyof})",
                                        (entity, *containing)).fetchall()
            elif isinstance(containing, str) and containing:
                rows = self._db.execute("SELECT id, version, data FROM rows WHERE entity=? AND instr(data, ?) > 0",
                                        (entity, containing)).fetchall()
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

    def count(self, entity: str) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM rows WHERE entity=?", (entity,)).fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()
