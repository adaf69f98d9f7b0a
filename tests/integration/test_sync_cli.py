"""`cspbridge sync <job>` against the sandboxes configured through the settings."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

pytestmark = pytest.mark.integration


@pytest.fixture
def cli_env(monkeypatch, dv_server, sync_pc_server, pax8_server):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_PAX8_URL", pax8_server.url)
    monkeypatch.setenv("CSPB_PARTNER_CENTER_URL", sync_pc_server.url)
    reset_settings()


def test_sync_all_runs_every_job_and_records_runs(cli_env, dv) -> None:
    from cli.main import cli

    result = CliRunner().invoke(cli, ["sync", "all"])
    assert result.exit_code == 0, result.output
    summaries = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [s["kind"] for s in summaries] == ["accounts", "subscriptions", "catalog"]
    assert all(s["status"] in ("Succeeded", "PartiallySucceeded") for s in summaries)
    assert summaries[1]["counts"]["seen"] > 0
    providers = {r["cspb_provider"] for r in dv.list("cspb_provideraccounts", select=["cspb_provider"])}
    assert providers == {1, 2}
    # Subscriptions synced before their product was in the catalog get its price from the catalog sync.
    priced = [r for r in dv.list("cspb_subscriptions", select=["cspb_unitprice", "cspb_unitcost", "cspb_provider",
                                                                "cspb_kind"]) if r["cspb_provider"] == 1
              and r["cspb_kind"] == 1]
    assert priced and all(r["cspb_unitprice"] is not None and r["cspb_unitcost"] is not None for r in priced)
    kinds = sorted(r["cspb_kind"] for r in dv.list("cspb_syncruns", select=["cspb_kind"]))
    # the catalog run, and one checkpoint per market it fanned out to (the sandbox bills in USD only)
    assert kinds == ["accounts", "catalog", "catalog-market", "subscriptions"]
