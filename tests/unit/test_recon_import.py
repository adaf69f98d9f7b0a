from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from recon.columns import INVOICE_COLUMNS
from recon.import_csv import import_file
from shared.blobstore import LocalBlobStore
from shared.errors import ValidationError
from tests.plugins.recon import invoice_row, usage_row, write_csv


def test_import_usage_csv_stores_raw_file_quarantine_and_summaries(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = write_csv(tmp_path / "DailyRatedUsage_2026-10.csv", [usage_row(), usage_row(Quantity="x"),
                                                              usage_row(MeterCategory="Storage")], bom=True)
    result = import_file(src, store=store)
    assert (result.kind, result.period, result.currency) == ("usage", "2026-10", "USD")
    assert (result.rows_read, result.rows_aggregated, result.rows_quarantined) == (3, 2, 1)
    assert result.blob_path == "recon/2026-10/import/USD/DailyRatedUsage_2026-10.csv"
    assert store.get(result.blob_path) == src.read_bytes()  # unchanged, BOM included
    assert result.checksum == hashlib.sha256(src.read_bytes()).hexdigest()
    [bad] = [json.loads(line) for line in store.get(result.quarantine_blob).decode().splitlines()]
    assert bad["line"] == 3 and bad["reason"].startswith("bad decimal in Quantity")
    assert sorted(s.meter_category for s in result.summaries) == ["Storage", "Virtual Machines"]


def test_import_invoice_csv_and_period_override(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    src = write_csv(tmp_path / "inv.csv", [invoice_row()], columns=INVOICE_COLUMNS, crlf=True)
    result = import_file(src, store=store, period="2026-11")
    assert result.kind == "invoice" and result.period == "2026-11" and result.provider_line_count == 1
    assert store.exists("recon/2026-11/import/USD/inv.csv")


def test_import_rejects_unknown_file(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("a,b\n1,2\n")
    with pytest.raises(ValidationError, match="not a recognised recon file"):
        import_file(src, store=LocalBlobStore(tmp_path / "blobs"))


def test_invoice_file_streams_lines_to_the_callback_and_bad_rows_to_quarantine(tmp_path: Path) -> None:
    from recon.invoice_file import scan_invoice_file

    rows = [invoice_row() for _ in range(5)]
    rows[2] = {**rows[2], "BillableQuantity": "three"}
    src = write_csv(tmp_path / "inv.csv", rows, columns=INVOICE_COLUMNS, crlf=True)
    seen: list[int] = []
    result = scan_invoice_file(src, lambda line: seen.append(line.line))
    assert seen == [2, 3, 5, 6] and result.lines == [] and result.rows_aggregated == 4
    assert result.rows_read == 5 and result.rows_quarantined == 1
    assert result.quarantine_path is not None and result.quarantine_sample[0].line == 4
    clean = write_csv(tmp_path / "clean.csv", rows[:2], columns=INVOICE_COLUMNS, crlf=True)
    assert scan_invoice_file(clean, lambda _line: None).quarantine_path is None
