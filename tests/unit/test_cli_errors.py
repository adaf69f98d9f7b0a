"""Every bad invocation ends in one line on stderr and a non-zero exit: no traceback, no silent exit 0.

Runs the real `cspbridge` entry point (cli.main.run) in process; each case fails before any network
call except the unreachable-service cases, which point at a closed loopback port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cli.main import run


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


BAD = [
    (["nosuch"], 2),
    (["bill", "run", "--date", "2026-13-01"], 2),
    (["bill", "run", "--catch-up-days", "0"], 2),
    (["bill", "run", "--catch-up-days", "-3"], 2),
    (["bill", "assign", "--catch-up-days", "zero"], 2),
    (["bill", "preview"], 2),
    (["bill", "run", "--rates", "does-not-exist.csv"], 2),
    (["recon", "ingest", "--period", "2026-1"], 2),
    (["recon", "ingest", "--period", "2026-13"], 2),
    (["recon", "report", "--period", "October"], 2),
    (["recon", "import", "no-such-file.csv"], 2),
    (["recon", "import", "--period", "2026/10", "{file}"], 2),
    (["accounting", "journal", "--month", "26-10"], 2),
    (["accounting", "export", "--target", "sap"], 2),
    (["pay", "charge", "--invoice", "INV-1", "--amount", "-5"], 2),
    (["pay", "charge", "--invoice", "INV-1", "--amount", "lots"], 2),
    (["pay", "link", "--contract", "BC-1", "--ttl-days", "0"], 2),
    (["assess", "--window-days", "0"], 2),
    (["assess", "--as-of", "2026-02-30"], 2),
    (["sandbox", "seed", "--customers", "0"], 2),
    (["sandbox", "seed", "--customers", "-1"], 2),
    (["portal", "--port", "70000"], 2),
    (["solution", "connect", "--function-url", "not-a-url"], 2),
    (["solution", "connect", "--function-url", "ftp://files.example"], 2),
    (["solution", "pack", "--version", "one"], 2),
    (["demo", "--only", "no-such-step"], 2),
    (["inbox", "replay", "--since", "yesterday-ish"], 2),
    (["inbox", "replay", "--id", "x", "--since", "2026-11-01T00:00:00Z"], 2),
    (["inbox", "replay"], 2),
    (["inbox", "sweep", "--minutes", "0"], 2),
]


@pytest.mark.parametrize("args,code", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_invocation_is_one_line_and_non_zero(args: list[str], code: int, capsys, tmp_path: Path,
                                                 monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "recon.csv").write_text("a,b\n1,2\n")
    args = [a.replace("{file}", str(tmp_path / "recon.csv")) for a in args]
    assert run(args) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:"), err
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err


def test_bad_rates_file_names_the_columns(capsys, tmp_path: Path) -> None:
    rates = tmp_path / "rates.csv"
    rates.write_text("when,rate\n2026-01,0.9\n")
    assert run(["bill", "preview", "--contract", "BC-1", "--rates", str(rates)]) == 2
    err = capsys.readouterr().err
    assert "month,from,to,rate" in err and len(err.strip().splitlines()) == 1


def test_unreachable_dataverse_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CSPB_DATAVERSE_URL", f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "1")
    assert run(["bill", "assign", "--date", "2026-11-02"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_bad_setting_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setenv("CSPB_HTTP_MAX_ATTEMPTS", "many")
    assert run(["bill", "assign"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1


def test_demo_refuses_to_empty_a_folder_that_is_not_demo_output(capsys, tmp_path: Path) -> None:
    keep = tmp_path / "precious"
    keep.mkdir()
    (keep / "thesis.txt").write_text("do not delete")
    assert run(["demo", "--out", str(keep)]) == 2
    assert (keep / "thesis.txt").exists()


def test_help_still_exits_zero(capsys) -> None:
    assert run(["--help"]) == 0
    assert "Usage" in capsys.readouterr().out
