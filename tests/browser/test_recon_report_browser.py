"""Headless Chromium opens the recon report the way a billing admin does (file on disk, offline)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from recon.report import html_report
from tests.unit.test_recon_report_page import big_result

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                       reason="/usr/bin/chromium is not installed (CI installs it and never skips)"),
]


def test_first_screen_shows_money_at_risk_and_margin_charts(tmp_path):
    from playwright.sync_api import sync_playwright

    page_file = tmp_path / "report.html"
    page_file.write_text(html_report(big_result(2000), period="2026-11"), encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_file.as_uri())
            assert page.title() == "Reconciliation and margin · 2026-11"
            # Above the fold: the money at risk cards and the first chart.
            at_risk = page.locator("#at-risk .card").first.bounding_box()
            assert at_risk is not None and at_risk["y"] < 900
            assert page.locator("#at-risk .card").count() == 3
            assert "Leak: charged by Microsoft, not billed" in page.locator("#at-risk").inner_text()
            assert page.locator("#margin svg").count() >= 8  # customer + family chart per currency
            first_chart = page.locator("svg").first.bounding_box()
            assert first_chart is not None and first_chart["height"] > 20
            # Usage revised after billing: the largest deltas, before the findings.
            assert page.locator("#usage-revised tbody tr").count() == 30
            assert "usage_revisions.csv" in page.locator("#usage-revised").inner_text()
            # Findings grouped by customer, the first groups open, the rest one click away.
            groups = page.locator("#findings details")
            assert groups.count() == 25
            assert groups.nth(0).locator("tr").count() == 8  # header + 7 findings
            groups.nth(10).locator("summary").click()
            assert groups.nth(10).locator("td").first.is_visible()
            assert [u for u in requests if not u.startswith("file:")] == []  # nothing fetched
            page.screenshot(path=str(tmp_path / "report.png"))
        finally:
            browser.close()
