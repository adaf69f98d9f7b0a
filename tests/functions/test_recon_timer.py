"""The daily recon timer ingests last month and this month from the Partner Center sandbox into the
Dataverse sandbox and the local blob store, and records one cspb_syncrun row."""

from __future__ import annotations

import json
from unittest import mock

import pytest
from azure.functions.timer import TimerRequest

from dataverse.tables import EntitySet
from functions.recon_timer import recon_timer
from shared.errors import AuthError, RetriableError

pytestmark = pytest.mark.integration


@pytest.fixture
def recon_env(monkeypatch, dv_server, pc_server, tmp_path):  # type: ignore[no-untyped-def]
    from partnercenter.client import PartnerCenterClient
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_PARTNER_CENTER_URL", pc_server.url)
    monkeypatch.setenv("CSPB_GRAPH_URL", pc_server.url)
    monkeypatch.setenv("CSPB_LOCAL_BLOB_ROOT", str(tmp_path / "blobs"))
    reset_settings()
    original = PartnerCenterClient.from_settings
    # The sandbox answers "running" to the first poll; don't wait 5 s for it.
    monkeypatch.setattr(PartnerCenterClient, "from_settings",
                        classmethod(lambda cls, *a, **k: original(*a, **{"poll_interval": 0.0, **k})))
    return tmp_path / "blobs"


def test_timer_ingests_and_records_run(recon_env, dv) -> None:
    with mock.patch("jobs.recon.periods_for", return_value=("2026-10", "2026-11")):
        recon_timer.build().get_user_function()(TimerRequest(past_due=False))
    runs = list(dv.list(EntitySet.SYNC_RUNS, select=["cspb_kind", "cspb_status", "cspb_counts"]))
    assert [(r["cspb_kind"], r["cspb_status"]) for r in runs] == [("recon", 2)]
    counts = json.loads(runs[0]["cspb_counts"])
    assert counts["files"] > 0 and counts["rowsRead"] > 0 and counts["usageSummaries"] > 0
    assert (recon_env / "recon" / "2026-10" / "report" / "report.html").is_file()
    assert list(dv.list(EntitySet.RECON_FILES, select=["cspb_filekey"]))


def test_timer_swallows_fatal_but_raises_retriable(recon_env) -> None:
    with mock.patch("jobs.recon.scheduled", side_effect=AuthError("bad credentials")):
        recon_timer.build().get_user_function()(TimerRequest(past_due=False))
    with mock.patch("jobs.recon.scheduled", side_effect=RetriableError("throttled")), \
            pytest.raises(RetriableError):
        recon_timer.build().get_user_function()(TimerRequest(past_due=False))
