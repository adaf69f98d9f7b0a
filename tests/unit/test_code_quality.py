"""Quality gate: the whole repo stays clean under `ruff check .` and `mypy .` (the settings, and what
each leaves out, are in pyproject.toml), so a lint or type error fails the suite like a broken test.

Both run as subprocesses from the repo root with the interpreter running the tests, so they see the
same packages. One xdist group keeps them in one worker, one after the other, so two mypy runs never
write its cache at once.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.xdist_group("quality")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)


def test_ruff_check_is_clean():
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, f"ruff check . failed:\n{result.stdout}{result.stderr}"


def test_mypy_is_clean():
    result = _run("mypy", ".")
    assert result.returncode == 0, f"mypy . failed:\n{result.stdout}{result.stderr}"
