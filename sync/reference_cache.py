"""Per-process cache of what every subscription sync message reads and nobody changes mid-run: the
catalog (products by number) and the price list items (amount and cost by price key).

Before it, each Functions worker re-read both for every queue message, which doubled the sync's
Dataverse requests against the in-process runner. Now the timer reads the catalog's version once
per run (the highest `versionnumber`, Dataverse's per-org row version that every write raises, of
products and of price list items: two one-row reads) and puts it in every message; a worker
process reloads only when a message names a newer version than the one it holds, so a warm
process serves a whole run from memory and any catalog write is picked up by the next run.
(`modifiedon` would not do: it has one-second resolution, so an edit in the same second as the
last load looks unchanged.) A message without a version (sent before this existed) makes the
worker check the version itself.

Known gap: deleting a price list item writes no row, so the version does not move; its key stays
cached until the next catalog write or process restart (the effect is a stale default price for a
new subscription, which the price-change report shows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dataverse.catalog_repo import PriceItem
from dataverse.catalog_repo import catalog_version as catalog_version  # read where the timer and tests look
from dataverse.client import DataverseClient

ProductLoader = Callable[[DataverseClient], dict[str, str]]
PriceLoader = Callable[[DataverseClient], dict[str, PriceItem]]


def _older(version: str, than: str) -> bool:
    """True when `version` is behind `than`: no row version above, at least one below (the cache
    holds a newer catalog; a message from an earlier run must not make it go back)."""
    try:
        mine = [int(v) for v in version.split("|")[:2]]
        theirs = [int(v) for v in than.split("|")[:2]]
    except ValueError:
        return False
    pairs = list(zip(mine, theirs, strict=False))
    return len(pairs) == 2 and all(a <= b for a, b in pairs) and any(a < b for a, b in pairs)


@dataclass
class _Entry:
    version: str
    products: dict[str, str]
    prices: dict[str, PriceItem]


class ReferenceCache:
    """One per process (`PROCESS_CACHE`); thread-safe, so a host running messages concurrently
    loads once. One entry per Dataverse org. `loads` counts reloads (tests and the bench assert on it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self.loads = 0

    def get(self, dv: DataverseClient, version: str | None, *, products: ProductLoader, prices: PriceLoader,
            ) -> tuple[dict[str, str], dict[str, PriceItem]]:
        """(products, prices) at `version` or newer; loads them with the given readers when needed."""
        org = str(getattr(dv, "org_url", None) or id(dv))
        with self._lock:
            if version is None:
                version = catalog_version(dv)
            entry = self._entries.get(org)
            if entry is None or (version != entry.version and not _older(version, entry.version)):
                entry = self._entries[org] = _Entry(version, products(dv), prices(dv))
                self.loads += 1
            return entry.products, entry.prices

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


PROCESS_CACHE = ReferenceCache()
