"""Which subscription kinds are billed from usage is one fact (issue 16): billing/models.py says it, and the
billing run (which kinds it rates from usage), contract assignment (which go on the usage contract) and
the billing store (whose usage it loads) all read that one set."""

from __future__ import annotations

import ast
from pathlib import Path

from billing.models import USAGE_KINDS, SubscriptionKind

REPO = Path(__file__).resolve().parents[2]
APP_PACKAGES = ["accounting", "billing", "cli", "dataverse", "distributors", "functions", "jobs", "partnercenter",
                "payments", "portal", "recon", "shared", "sync"]


def _assignments(name: str) -> list[str]:
    found = []
    for package in APP_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                targets = node.targets if isinstance(node, ast.Assign) else \
                    [node.target] if isinstance(node, ast.AnnAssign) else []
                if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                    found.append(f"{path.relative_to(REPO).as_posix()}:{node.lineno}")
    return found


def test_usage_kinds_are_defined_once() -> None:
    found = _assignments("USAGE_KINDS")
    assert len(found) == 1 and found[0].startswith("billing/models.py:"), found


def test_every_user_reads_the_one_set() -> None:
    from billing import contract_assignment, runs
    from dataverse import billing_repo

    assert contract_assignment.USAGE_KINDS is USAGE_KINDS
    assert runs.USAGE_KINDS is USAGE_KINDS
    assert billing_repo.USAGE_KINDS is USAGE_KINDS


def test_usage_kinds_go_on_the_usage_contract_and_the_rest_on_licenses() -> None:
    from decimal import Decimal

    from billing.contract_assignment import ContractKind, contract_kind
    from billing.models import Subscription

    for kind in SubscriptionKind:
        sub = Subscription("S", 1, Decimal(0), kind=kind)
        assert (contract_kind(sub) is ContractKind.USAGE) == (kind in USAGE_KINDS), kind
    assert USAGE_KINDS == {SubscriptionKind.AZURE_PLAN, SubscriptionKind.AZURE_ENTITLEMENT,
                           SubscriptionKind.LEGACY_AZURE, SubscriptionKind.MARKETPLACE}
