"""`cspbridge demo`, the README's main job, end to end against the in-process sandboxes."""

import os
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("demo")]


# Both runs use the same --as-of, so a run either side of midnight still compares.
AS_OF = date.today().isoformat()


def _run_demo(out: Path) -> Any:
    saved = dict(os.environ)
    try:
        return CliRunner().invoke(cli, ["demo", "--out", str(out), "--as-of", AS_OF], catch_exceptions=False)
    finally:
        from cli.demo_portal import stop_servers

        stop_servers()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def first_demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("demo-1") / "demo-output"
    return _run_demo(out), out


def test_demo_runs_every_step_and_writes_real_files(first_demo):
    result, out = first_demo
    assert result.exit_code == 0, result.output
    summary = result.output.split("== summary ==")[1]
    assert "FAIL" not in summary
    for step in ("dataverse round trip", "sync and provisioning", "price-change preview", "pax8 provisioning",
                 "recon", "billing",
                 "payments and accounting", "margin report", "portal and assessment"):
        assert f"ok   {step}" in summary
    assert "re-run of the same date created 0 invoices" in result.output
    # The money path on the demo's invoices (issue 12): usage from the ingest, deferred revenue, tax, a credit.
    assert int(re.search(r"Azure usage lines billed from the recon ingest: (\d+)", result.output).group(1)) > 0
    assert int(re.search(r"deferred-revenue schedules: (\d+)", result.output).group(1)) > 0
    assert int(re.search(r"taxed lines: (\d+)", result.output).group(1)) > 0
    assert "credit for change decrease" in result.output
    assert "status': 'Provisioned'" in result.output
    assert "portal: http://127.0.0.1:" in result.output
    blobs = out / "blobs"
    assert list(blobs.glob("recon/*/report/report.html"))
    assert "invoices emailed over SMTP and read back from the local server: " in result.output
    assert len(list((out / "mail").glob("*.pdf"))) > 3
    assert list((out / "assessment").glob("kpis-*.html"))
    # next month's prices ahead: the sandbox announces three price moves, one ending term and a new product
    preview = (out / "price-preview" / "report.html").read_text(encoding="utf-8")
    assert "<svg" in preview and "Microsoft 365 Business Standard" in preview and "Microsoft 365 Copilot" in preview
    assert "changed 0" not in result.output and "added 0," not in result.output


def _as_read(output: str, out: Path) -> str:
    """The output with what differs by design masked: the free ports, the output folder, each
    step's seconds and the portal invitation's token (a secret, random by design); without the
    notice that CSPB_MODE was unset, which depends on the caller's environment."""
    text = "".join(line for line in output.replace(str(out), "<out>").splitlines(keepends=True)
                   if not line.startswith("CSPB_MODE is not set"))
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"/portal/invite/[\w-]+", "/portal/invite/<token>", text)
    return re.sub(r"(?m)^(  ok   .*?)\s+\d+\.\d+s$", r"\1 <s>", text)


def test_two_demo_runs_print_the_same(first_demo, tmp_path):
    """Every id the demo prints is derived from the seeded data (accounts get client-chosen ids from
    their customer, the sandboxes number what they create), so a second run on a fresh org prints
    the same invoices, contract numbers, totals and examples, line for line."""
    first, first_out = first_demo
    assert first.exit_code == 0, first.output
    second_out = tmp_path / "demo-output"
    second = _run_demo(second_out)
    assert second.exit_code == 0, second.output
    a, b = _as_read(first.output, first_out), _as_read(second.output, second_out)
    assert re.search(r"U[0-9A-F]{8}-[A-Z]{3}-\d{6}", a), "no usage contract number printed"
    import difflib

    assert a == b, "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), "run 1", "run 2", lineterm=""))
    _assert_same_files(first_out, second_out)


# What two runs legitimately write differently, and why:
DIFFER_BY_DESIGN = (
    # The sandboxes' own state (the stand-ins for Microsoft, Dynamics, Pax8...): a TLS key pair made
    # per run, SQLite pages, and the timestamps those services stamp with their own clock.
    "sandbox-state/",
    # Used-link markers are named by the payment link's token (a signed secret with a nonce) and record
    # when it was redeemed (the replay check's own wall clock).
    "blobs/payment-links/used/",
    # The QuickBooks refresh token the sandbox rotates: a secret, random by design.
    "blobs/_secrets/",
)


def _written(out: Path) -> dict[str, bytes]:
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        if not name.startswith(DIFFER_BY_DESIGN):
            files[name] = path.read_bytes()
    # The invitation link: a free port and a one-time token (a secret).
    invite = files.get("portal-invitation.txt", b"")
    files["portal-invitation.txt"] = re.sub(rb"127\.0\.0\.1:\d+/portal/invite/[\w-]+", b"<link>", invite)
    return files


def _assert_same_files(first_out: Path, second_out: Path) -> None:
    """Byte for byte: invoice PDFs and HTML, recon manifests, CSV and HTML reports, KPI and margin
    reports, price previews. Nothing in them may follow a random row id or the wall clock."""
    a, b = _written(first_out), _written(second_out)
    assert sorted(a) == sorted(b)
    assert any(name.endswith(".pdf") for name in a) and any("recon/" in name for name in a)
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"{len(differing)} written files differ between two runs: {differing}"
