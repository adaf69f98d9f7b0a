"""Concurrent writers of one blob in the local store: each write lands whole, none fails."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.blobstore import LocalBlobStore


def test_concurrent_writers_of_the_same_blob_never_collide(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = LocalBlobStore(tmp_path)
    payloads = [bytes([i]) * 50_000 for i in range(16)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda data: store.put("same/key.json", data), payloads * 4))
    assert store.get("same/key.json") in payloads
    assert list(store.list("same/")) == ["same/key.json"]
    assert not [p for p in tmp_path.rglob("*.tmp")]
