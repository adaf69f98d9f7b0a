"""The monthly KPI snapshot timer builds history: two runs, two points on the trend chart."""

from __future__ import annotations

from datetime import date
from unittest import mock

import pytest
from azure.functions.timer import TimerRequest

from functions.assessment_timer import assessment_timer

pytestmark = pytest.mark.integration


def test_monthly_snapshots_give_the_trend_chart_points(monkeypatch, dv_server, dv, tmp_path) -> None:
    from jobs.assessment import snapshot
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_DATAVERSE_URL", dv_server.url)
    monkeypatch.setenv("CSPB_LOCAL_BLOB_ROOT", str(tmp_path / "blobs"))
    reset_settings()
    snapshot(date(2026, 10, 1))
    with mock.patch("jobs.assessment.datetime") as clock:
        clock.now.return_value.date.return_value = date(2026, 11, 1)
        assessment_timer.build().get_user_function()(TimerRequest(past_due=False))
    result = snapshot(date(2026, 12, 1))
    assert [s["as_of"] for s in result.history] == ["2026-10-01", "2026-11-01", "2026-12-01"]
    html = (tmp_path / "blobs" / "assessment" / "2026-12-01" / "kpis.html").read_text(encoding="utf-8")
    assert "None" not in html
    assert (tmp_path / "blobs" / "assessment" / "2026-11-01" / "kpis.csv").exists()
