"""SkippableError, Singer-style: a provider record the sync cannot read is skipped, counted and named;
the rest of the tenant (and the run) syncs."""

from __future__ import annotations

import dataclasses

import pytest

from dataverse.tables import EntitySet
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration


class WithBadRecords:
    """The real Partner Center adapter, plus two records no provider should send."""

    def __init__(self, real) -> None:  # type: ignore[no-untyped-def]
        self.real = real
        self.injected = 0

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.real, name)

    def list_subscriptions(self, company_id=None):  # type: ignore[no-untyped-def]
        subs = list(self.real.list_subscriptions(company_id))
        if subs:
            self.injected += 2
            yield dataclasses.replace(subs[0], id="bad-quantity-1", quantity="lots")
            yield dataclasses.replace(subs[0], id="", quantity=1)
        yield from subs


def test_unreadable_provider_records_are_skipped_and_counted(dv, sync_pc) -> None:
    for company in sync_pc.list_companies():
        dv.create(EntitySet.ACCOUNTS, {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: sync_pc})
    adapter = WithBadRecords(sync_pc)
    run = run_subscription_sync(dv, {1: adapter})
    per_company = [len(list(sync_pc.list_subscriptions(c.id))) for c in sync_pc.list_companies()]
    good = sum(per_company)
    rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_providersubscriptionid"]))
    counts = run.get("counts") or run
    assert adapter.injected >= 2 and counts.get("skipped") == adapter.injected
    assert "bad-quantity-1" not in {r["cspb_providersubscriptionid"] for r in rows}
    assert len(rows) >= good
    assert any("is not a whole number of seats" in e for e in run.get("errors", []))
