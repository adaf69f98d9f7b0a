"""`cspbridge demo`, the README's main job, end to end against the in-process sandboxes."""

import os

import pytest
from click.testing import CliRunner

from cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("demo")]


def test_demo_runs_every_step_and_writes_real_files(tmp_path):
    saved = dict(os.environ)
    out = tmp_path / "demo-output"
    try:
        result = CliRunner().invoke(cli, ["demo", "--out", str(out)], catch_exceptions=False)
    finally:
        from cli.demo_portal import stop_servers

        stop_servers()
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    summary = result.output.split("== summary ==")[1]
    assert "FAIL" not in summary
    for step in ("dataverse round trip", "sync and provisioning", "price-change preview", "pax8 provisioning",
                 "recon", "billing",
                 "payments and accounting", "margin report", "portal and assessment"):
        assert f"ok   {step}" in summary
    assert "re-run of the same date created 0 invoices" in result.output
    # The money path on the demo's invoices (issue 12): usage from the ingest, deferred revenue, tax, a credit.
    import re

    assert int(re.search(r"Azure usage lines billed from the recon ingest: (\d+)", result.output).group(1)) > 0
    assert int(re.search(r"deferred-revenue schedules: (\d+)", result.output).group(1)) > 0
    assert int(re.search(r"taxed lines: (\d+)", result.output).group(1)) > 0
    assert "credit for change decrease" in result.output
    assert "status': 'Provisioned'" in result.output
    assert "portal: http://127.0.0.1:" in result.output
    blobs = out / "blobs"
    assert list(blobs.glob("recon/*/report/report.html"))
    assert "invoices emailed over SMTP and read back from the local server: " in result.output
    assert list((out / "mail").glob("*.pdf"))
    assert list((out / "assessment").glob("kpis-*.html"))
    # next month's prices ahead: the sandbox announces three price moves, one ending term and a new product
    preview = (out / "price-preview" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in preview and "Microsoft 365 Business Standard" in preview and "Microsoft 365 Copilot" in preview
    assert "changed 0" not in result.output and "added 0," not in result.output
