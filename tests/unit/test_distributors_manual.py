"""The manual distributor records each request once and notifies once."""

from __future__ import annotations

import pytest

from distributors.base import DistributorAdapter, idempotency_key
from distributors.manual import ManualAdapter
from shared.blobstore import LocalBlobStore
from shared.errors import ValidationError


def test_order_is_recorded_and_notified_once(tmp_path):
    seen = []
    adapter = ManualAdapter(LocalBlobStore(tmp_path), notifier=seen.append)
    assert isinstance(adapter, DistributorAdapter)
    key = idempotency_key("cl-9", "new")
    first = adapter.place_order("co-1", "prod-1", 4, "P1M", "P1Y", key)
    again = adapter.place_order("co-1", "prod-1", 4, "P1M", "P1Y", key)
    assert first.order_id == again.order_id and again.replayed and first.status == "Pending"
    assert len(seen) == 1 and seen[0].quantity == 4
    assert [r.action for r in adapter.requests()] == ["order"]


def test_bad_terms_are_refused(tmp_path):
    adapter = ManualAdapter(LocalBlobStore(tmp_path), notifier=lambda r: None)
    with pytest.raises(ValidationError):
        adapter.place_order("co", "p", 1, "monthly", None, "k")
    with pytest.raises(ValidationError):
        adapter.change_quantity("s", 0, "k")


def test_idempotency_key_is_stable():
    assert idempotency_key("inv-1", "autocharge") == idempotency_key("inv-1", "autocharge")
    assert idempotency_key("inv-1", "autocharge") != idempotency_key("inv-1", "retry")
