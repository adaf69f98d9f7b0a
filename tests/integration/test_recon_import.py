from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from dataverse.tables import EntitySet
from recon.columns import INVOICE_COLUMNS
from tests.plugins.recon import invoice_row, usage_row, write_csv

pytestmark = pytest.mark.integration


@pytest.fixture
def recon_cli_env(monkeypatch, dv_server, tmp_path):  # type: ignore[no-untyped-def]
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_LOCAL_BLOB_ROOT", str(tmp_path / "blobs"))
    reset_settings()
    return tmp_path / "blobs"


def test_cli_import_writes_blob_reconfile_and_summaries(recon_cli_env: Path, dv, tmp_path: Path) -> None:
    usage = write_csv(tmp_path / "usage.csv", [usage_row(), usage_row(CustomerId="cust-b"),
                                               usage_row(BillingCurrency="XYZ")], bom=True, crlf=True)
    out = CliRunner().invoke(cli, ["recon", "import", str(usage)])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert (summary["rows_read"], summary["rows_aggregated"], summary["rows_quarantined"]) == (3, 2, 1)
    assert (recon_cli_env / summary["blob"]).read_bytes() == usage.read_bytes()
    [row] = list(dv.list(EntitySet.RECON_FILES))
    assert row["cspb_filekey"] == "2026-10|import|USD" and row["cspb_status"] == 2
    assert (row["cspb_rowsread"], row["cspb_rowsaggregated"], row["cspb_rowsquarantined"]) == (3, 2, 1)
    assert "quarantined" in row["cspb_error"]
    summaries = list(dv.list(EntitySet.USAGE_SUMMARIES))
    assert sorted(s["cspb_customerid"] for s in summaries) == ["cust-a", "cust-b"]

    invoice = write_csv(tmp_path / "invoice.csv", [invoice_row()], columns=INVOICE_COLUMNS)
    out = CliRunner().invoke(cli, ["recon", "import", str(invoice), "--period", "2026-10"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["provider_lines"] == 1

    out = CliRunner().invoke(cli, ["recon", "report", "--period", "2026-10", "--invoice", str(invoice),
                                   "--out", str(tmp_path / "report")])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "report" / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert (recon_cli_env / "recon/2026-10/report/margin.csv").is_file()


def test_cli_import_wrong_header_is_a_clear_error(recon_cli_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("CustomerId,UsageDate,MeterCategory\nx,2026-10-01,VM\n")
    out = CliRunner().invoke(cli, ["recon", "import", str(bad)])
    assert out.exit_code == 2
    assert "missing required column(s)" in out.output and "BillingPreTaxTotal" in out.output
