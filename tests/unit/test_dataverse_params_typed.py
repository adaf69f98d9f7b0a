"""Go-to-definition from a service reaches the Dataverse client (issue 16): in these packages a `dv`
parameter is annotated with DataverseClient (or `DataverseClient | None`), never `Any` or nothing.
A `client` parameter (a Dataverse or Partner Center client) is annotated and never `Any` either.
mypy --strict allows an explicit Any, so this holds what it cannot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# One a line.
PACKAGES = (
    "accounting",
    "billing",
    "cli",
    "dataverse",
    "distributors",
    "functions",
    "jobs",
    "partnercenter",
    "payments",
    "portal",
    "recon",
    "shared",
    "sync",
)


def untyped_dv(package: str) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                if arg.arg not in ("dv", "client"):
                    continue
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                names = {getattr(n, "id", getattr(n, "attr", "")) for n in ast.walk(arg.annotation)} if arg.annotation else set()
                typed = "DataverseClient" in annotation if arg.arg == "dv" else bool(annotation)
                if not typed or "Any" in names:
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({arg.arg}: {annotation or '?'})")
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_dv_parameters_are_typed(package: str) -> None:
    found = untyped_dv(package)
    assert not found, "type these parameters (dv as DataverseClient):\n" + "\n".join(found)
