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


def test_preview_of_a_seat_change_now_and_on_the_next_invoice(billing_env):
    runner = CliRunner()
    assert runner.invoke(cli, ["bill", "run", "--date", "2026-01-02"]).exit_code == 0
    shown = runner.invoke(cli, ["bill", "preview", "--subscription", "demo-sub-e3", "--quantity", "20",
                                "--date", "2026-01-20"])
    assert shown.exit_code == 0, shown.output
    # 5 seats x 36.00 x 12/31 days = 69.68, + 10% tax; then February at 20 seats instead of 15.
    assert "15 -> 20 seat(s)" in shown.output
    assert "now: charge 76.65 USD for 2026-01-20..2026-01-31" in shown.output
    assert "next invoice BC-1001|2026-02-01|cycle on 2026-02-02: 696.19 -> 970.84 USD (+274.65 USD)" in shown.output
    bad = runner.invoke(cli, ["bill", "preview", "--subscription", "demo-sub-e3"])
    assert bad.exit_code == 2 and "--quantity" in bad.output



def test_preview_of_an_unknown_subscription_is_one_line(billing_env, capsys):
    from cli.main import run

    assert run(["bill", "preview", "--subscription", "nope", "--quantity", "3"]) == 1
    err = capsys.readouterr().err
    assert "error: no subscription 'nope'" in err and "Traceback" not in err
