"""Dataverse column names live in dataverse/ and solution/ only (issue 16): the service packages work
with typed records from dataverse/stores/ and never name a cspb_* column, not even in a comment, so a
grep for a column finds its one home. Add a package here once it holds none."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ["accounting", "billing", "cli", "distributors", "functions", "jobs", "payments", "portal", "recon", "sync"]
# cspb_-prefixed names that are not Dataverse columns, and the one file each may appear in.
NOT_COLUMNS = {
    ("portal/sessions.py", "cspb_portal"): "the portal session cookie's name",
    ("payments/base.py", "cspb_paymentkey"): "Stripe metadata key a webhook event is matched back by",
    ("payments/base.py", "cspb_reference"): "Stripe metadata key naming the invoice",
}
_TOKEN = re.compile(r"(?<![A-Za-z0-9_])_?cspb_[a-z0-9_]*")


@pytest.mark.parametrize("package", PACKAGES)
def test_package_names_no_dataverse_column(package: str) -> None:
    found = []
    for path in sorted((REPO / package).rglob("*.py")):
        rel = path.relative_to(REPO).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for token in _TOKEN.findall(line):
                if (rel, token) not in NOT_COLUMNS:
                    found.append(f"{rel}:{number}: {token}")
    assert not found, "column names belong in dataverse/stores/ (add a typed helper there):\n" + "\n".join(found)
