"""`cspbridge bill run|preview|revenue` against the Dataverse sandbox."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cli.main import cli

pytestmark = pytest.mark.integration


def test_bill_run_twice_then_preview_and_revenue(billing_env, tmp_path):
    runner = CliRunner()
    first = runner.invoke(cli, ["bill", "run", "--date", "2026-01-02"])
    assert first.exit_code == 0, first.output
    assert "2 created" in first.output
    assert "EUR: 1 invoice(s), 1 line(s), total 1100.00" in first.output
    assert "USD: 1 invoice(s), 1 line(s), total 396.00" in first.output
    again = runner.invoke(cli, ["bill", "run", "--date", "2026-01-02"])
    assert again.exit_code == 0 and "0 created, 0 resumed" in again.output and "no invoices" in again.output

    shown = runner.invoke(cli, ["bill", "preview", "--contract", "BC-1001", "--date", "2026-01-10"])
    assert shown.exit_code == 0, shown.output
    assert "BC-1001|2026-02-01|cycle" in shown.output and "total 696.19" in shown.output

    out = tmp_path / "rev.csv"
    exported = runner.invoke(cli, ["bill", "revenue", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    assert len(out.read_text().splitlines()) == 13


def test_bill_run_rejects_bad_date(billing_env):
    result = CliRunner().invoke(cli, ["bill", "run", "--date", "Jan 2"])
    assert result.exit_code == 2 and "not a date" in result.output
