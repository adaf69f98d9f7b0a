"""The orchestration of each job lives in jobs/ (issue 16): dataverse/ holds the client and typed stores,
the services hold their work, and no package but jobs/ keeps a `jobs` or `*_jobs` module beside them
(dataverse/billing_jobs.py, dataverse/contract_jobs.py, sync/jobs.py and recon/jobs.py were moved)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP_PACKAGES = ["accounting", "billing", "cli", "dataverse", "distributors", "functions", "partnercenter", "payments",
                "portal", "recon", "shared", "solution", "sync"]


def test_no_jobs_module_outside_jobs() -> None:
    found = [p.relative_to(REPO).as_posix() for package in APP_PACKAGES for p in (REPO / package).rglob("*.py")
             if p.stem == "jobs" or p.stem.endswith("_jobs")]
    assert not found, "job wiring belongs in jobs/<area>.py:\n" + "\n".join(found)


def test_contract_preparation_is_wired_from_jobs() -> None:
    from jobs import billing, contracts

    assert billing.assign_contracts is contracts.assign_contracts
    assert billing.apply_renewals is contracts.apply_renewals
