"""The sandbox's data: a seeded directory read lazily, one customer file at a time.

Startup reads only meta.json, customers.jsonl and invoices.json; a customer's subscriptions,
orders and idempotency records are loaded on first use and written back on every change, so a
2,000-customer seed starts in well under a second and survives a restart.
"""

from __future__ import annotations

import json
import secrets
import threading
from pathlib import Path
from typing import Any

from sandbox.partnercenter.seed import seed_to_dir

DEFAULT_CUSTOMERS = 12
DEFAULT_SEED = 1
DEFAULT_USAGE_ROWS = 3000


class PartnerCenterState:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        if not (self.dir / "meta.json").exists():
            # An empty dir gets a small default partner so the demo and other areas' tests have data.
            seed_to_dir(self.dir, DEFAULT_CUSTOMERS, DEFAULT_SEED, usage_rows=DEFAULT_USAGE_ROWS)
        self.lock = threading.RLock()
        self.operations: dict[str, dict[str, Any]] = {}
        # Signs the SAS-like blob URLs; a fresh key per server start, like a rotated storage key.
        self.sas_key = secrets.token_bytes(32)
        self.checkouts = 0  # purchases actually executed (idempotent replays do not count)
        # Every write as received (method, path, requestId, correlationId, replayed), for tests to inspect.
        self.write_log: list[dict[str, Any]] = []
        self._load()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = (self.dir / "meta.json").stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def _load(self) -> None:
        self._meta_stamp = self._stamp()
        self.meta: dict[str, Any] = json.loads((self.dir / "meta.json").read_text(encoding="utf-8"))
        self.customers: list[dict[str, Any]] = []
        self.customer_index: dict[str, int] = {}
        with open(self.dir / "customers.jsonl", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    customer = json.loads(line)
                    self.customer_index[customer["id"]] = len(self.customers)
                    self.customers.append(customer)
        self.invoices: list[dict[str, Any]] = json.loads((self.dir / "invoices.json").read_text(encoding="utf-8"))
        self._loaded: dict[str, dict[str, Any]] = {}
        self.recon_cache: dict[str, list[dict[str, Any]]] = {}

    def reload_if_reseeded(self) -> bool:
        """`cspbridge sandbox seed` into the directory of a running server takes effect on the next
        request: the seed writes meta.json last (atomically), so a new stamp means a complete new seed."""
        stamp = self._stamp()
        if stamp is None or stamp == self._meta_stamp:
            return False
        with self.lock:
            if self._stamp() != self._meta_stamp:
                self._load()
                self.operations.clear()
        return True

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        index = self.customer_index.get(customer_id)
        return None if index is None else self.customers[index]

    def customer_state(self, customer_id: str) -> dict[str, Any] | None:
        with self.lock:
            state = self._loaded.get(customer_id)
            if state is None:
                path = self.dir / "customers" / f"{customer_id}.json"
                if customer_id not in self.customer_index or not path.exists():
                    return None
                state = json.loads(path.read_text(encoding="utf-8"))
                self._loaded[customer_id] = state
            return state

    def save(self, customer_id: str) -> None:
        with self.lock:
            state = self._loaded[customer_id]
            path = self.dir / "customers" / f"{customer_id}.json"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state, separators=(",", ":")), encoding="utf-8")
            tmp.replace(path)

    def invoice(self, invoice_id: str) -> dict[str, Any] | None:
        return next((inv for inv in self.invoices if inv["id"] == invoice_id), None)
