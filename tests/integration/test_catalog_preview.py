"""Next month's prices ahead, against the Partner Center sandbox: the report a partner reads."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

pytestmark = pytest.mark.integration


def test_preview_lists_added_changed_removed_and_margin_per_customer_by_name(dv, sync_pc, tmp_path) -> None:
    from dataverse import catalog_repo
    from dataverse.tables import CatalogSelectionKind
    from shared.blobstore import LocalBlobStore
    from sync.price_preview import run_price_preview
    from sync.provider_accounts import run_provider_account_sync
    from sync.subscription_sync import run_subscription_sync

    run_provider_account_sync(dv, {1: sync_pc})
    run_subscription_sync(dv, {1: sync_pc})
    catalog_repo.add_selection(dv, catalog_repo.SelectionEntry(CatalogSelectionKind.FAMILY, "Microsoft 365 Copilot"))
    store = LocalBlobStore(tmp_path / "blobs")
    # the sandbox is seeded as of November 2026: its November sheet announces December's moves
    out = run_price_preview(dv, sync_pc, today=date(2026, 11, 20), currencies=["USD"], store=store,
                            out_dir=tmp_path / "preview")
    assert out["month"] == "2026-12" and out["source"] == ["the December 2026 price sheet"]
    assert out["items"]["added"] == 2 and out["items"]["changed"] > 0
    html = (tmp_path / "preview" / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 3 and "Microsoft 365 Copilot" in html
    rows = list(csv.DictReader(io.StringIO(store.get("catalog/price-preview/2026-12/price-changes.csv").decode())))
    moved = [r for r in rows if r["product"] == "Microsoft 365 Business Standard" and r["term_and_billing"] == "P1M monthly"]
    assert moved and moved[0]["change"] == "changed" and moved[0]["cost_change_pct"] == "5.00"
    assert {r["change"] for r in rows} == {"added", "changed", "removed"}
    customers = list(csv.DictReader(io.StringIO(
        store.get("catalog/price-preview/2026-12/customer-impact.csv").decode())))
    assert customers and all(c["customer"] and "-" not in c["customer"][:8] for c in customers)  # names, not ids
    assert out["customersAffected"] == len({c["customer"] for c in customers})
