"""The layers of ../shared/DESIGN.md, enforced by import-linter (contracts in pyproject.toml):
functions -> jobs -> services -> adapters -> billing -> shared; triggers import only jobs/ and shared/; billing
does no I/O; sandboxes import no app code; no import cycles between sibling modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_linter_contracts_are_kept():
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
                               "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()"],
        cwd=REPO, capture_output=True, text=True, timeout=300)
    report = result.stdout[result.stdout.find("Contracts"):] if "Contracts" in result.stdout else result.stdout
    assert result.returncode == 0, report + result.stderr
    assert "5 kept, 0 broken" in result.stdout
