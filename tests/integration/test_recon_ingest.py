from __future__ import annotations

import gzip
import hashlib
from datetime import date
from decimal import Decimal

import pytest

from dataverse.tables import EntitySet
from recon.ingest import ingest_period
from shared.blobstore import AzureBlobStore

pytestmark = pytest.mark.integration


def test_ingest_period_into_azurite_and_dataverse(pc, pc_server, dv, azurite) -> None:
    store = AzureBlobStore("recon-it", connection_string=azurite)
    outcome = ingest_period("2026-10", store=store, dv=dv, pc=pc, today=date(2026, 11, 15))

    assert outcome.files and not outcome.failed, outcome.as_dict()
    kinds = {f.kind for f in outcome.files}
    assert {"invoice", "billed_usage"} <= kinds
    for f in outcome.files:
        assert f.rows_read == f.rows_aggregated + f.rows_quarantined
        data = store.get(f.blob_path)
        assert hashlib.sha256(data).hexdigest() == f.checksum
        assert f.blob_path.startswith(f"recon/2026-10/{f.kind}/{f.currency}/")
        assert len(gzip.decompress(data).splitlines()) == f.rows_read
    raw = [p for p in store.list("recon/2026-10/") if "/raw/" in p]
    assert raw, "raw export blobs are kept as downloaded"
    import json

    manifest = json.loads(store.get(f"recon/2026-10/billed_usage/{outcome.files[-1].currency}/manifest.json"))
    assert manifest["consolidated"]["sha256"] == outcome.files[-1].checksum
    for blob in manifest["raw"]:
        assert hashlib.sha256(store.get(blob["path"])).hexdigest() == blob["sha256"]

    # Every file has its cspb_reconfile row; usage landed in cspb_usagesummary with exact totals.
    files = {r["cspb_filekey"]: r for r in dv.list(EntitySet.RECON_FILES)}
    for f in outcome.files:
        row = files[f"2026-10|{f.kind}|{f.currency}"]
        assert (row["cspb_rowsread"], row["cspb_rowsquarantined"]) == (f.rows_read, f.rows_quarantined)
        assert row["cspb_checksum"] == f.checksum
    summaries = list(dv.list(EntitySet.USAGE_SUMMARIES))
    assert len(summaries) == outcome.usage_summaries > 0
    billed_rows = sum(f.rows_aggregated for f in outcome.files if f.kind == "billed_usage")
    assert billed_rows > 0
    assert all(Decimal(str(s["cspb_cost"])) == Decimal(str(s["cspb_cost"])).quantize(Decimal("0.0001"))
               for s in summaries)
    assert outcome.provider_lines

    # A rerun replaces, never adds.
    again = ingest_period("2026-10", store=store, dv=dv, pc=pc, today=date(2026, 11, 15))
    assert len(list(dv.list(EntitySet.USAGE_SUMMARIES))) == len(summaries)
    assert [f.checksum for f in again.files] == [f.checksum for f in outcome.files]

    # The report goes next to the recon files; with an empty Dynamics every charge is a finding.
    from recon.run import build_report

    result, paths = build_report("2026-10", provider_lines=again.provider_lines, usage=[], store=store, dv=dv)
    assert set(paths) == {"margin.csv", "findings.csv", "usage_revisions.csv", "report.html"}
    assert paths["report.html"] == "recon/2026-10/report/report.html"
    html = store.get(paths["report.html"]).decode()
    assert "<svg" in html and "Unmapped tenant" in html
    assert result.margin and all(m.revenue == 0 for m in result.margin)
