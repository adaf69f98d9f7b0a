"""mypy --strict stays clean on the typed core: billing/, partnercenter/, dataverse/, jobs/ and the
packages added to STRICT_PACKAGES since (issue 16). A new module under one of them is checked too, so
it must arrive typed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

# With test_code_quality's `mypy .`, in one worker: two mypy runs at once only slow each other.
pytestmark = pytest.mark.xdist_group("quality")

ROOT = Path(__file__).resolve().parents[2]
# One a line, so owners adding theirs do not collide.
STRICT_PACKAGES = (
    "billing",
    "cli",
    "partnercenter",
    "dataverse",
    "jobs",
    "distributors",
    "sync",
    "portal",
    "payments",
    "accounting",
    "recon",
    "shared",
    "functions",
)

# What `mypy --strict` turns on that can be set per module (warn_redundant_casts is global only).
STRICT_FLAGS = {
    "disallow_any_generics": True, "disallow_subclassing_any": True, "disallow_untyped_calls": True,
    "disallow_untyped_defs": True, "disallow_incomplete_defs": True, "check_untyped_defs": True,
    "disallow_untyped_decorators": True, "warn_unused_ignores": True, "warn_return_any": True,
    "implicit_reexport": False, "strict_equality": True, "extra_checks": True,
}


def test_strict_packages_pass_mypy_strict() -> None:
    # Errors in modules they import from other packages are not theirs: follow-imports=silent
    # reads those for types but reports only on the strict packages. A cache of its own keeps the
    # run to a few seconds and away from `make typecheck`'s cache (other options).
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent",
         "--cache-dir", str(ROOT / ".mypy_cache" / "strict-suite"), *STRICT_PACKAGES],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"mypy --strict found errors:\n{result.stdout}{result.stderr}"


def test_project_config_checks_the_same_packages_strictly() -> None:
    """`make typecheck` (mypy .) applies the same rules through pyproject's per-module override."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    wanted = {*STRICT_PACKAGES, *(f"{p}.*" for p in STRICT_PACKAGES)}
    overrides = [o for o in config.get("overrides", []) if wanted <= set(o.get("module", []))]
    assert overrides, "pyproject's [[tool.mypy.overrides]] no longer lists the strict packages"
    missing = {k: v for k, v in STRICT_FLAGS.items() if overrides[0].get(k) != v}
    assert not missing, f"the strict override lacks {missing}"
