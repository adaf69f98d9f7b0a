"""cli/ (the commands and the demo) reaches Dataverse the way the services do (issue 16): every `dv` it
takes is a DataverseClient, and it never calls the client itself, so each row it reads or writes goes
through a typed helper in dataverse/ (test_column_names_home keeps the column names out as well)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATAVERSE_CALLS = {"list", "get", "get_by_key", "create", "update", "upsert", "delete", "batch", "bulk_upsert",
                   "upsert_multiple", "create_multiple", "update_multiple"}


def _cli_trees() -> list[tuple[str, ast.AST]]:
    return [(f.name, ast.parse(f.read_text(encoding="utf-8"))) for f in sorted((ROOT / "cli").glob("*.py"))]


def test_every_dv_in_cli_is_a_dataverse_client() -> None:
    loose = []
    for name, tree in _cli_trees():
        for fn in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for arg in [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]:
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if arg.arg == "dv" and annotation not in ("DataverseClient", "DataverseClient | None"):
                    loose.append(f"{name}:{fn.name}(dv: {annotation or 'untyped'})")
    assert not loose, loose


def test_cli_calls_no_dataverse_client_method_itself() -> None:
    direct = []
    for name, tree in _cli_trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in DATAVERSE_CALLS and ast.unparse(node.func.value) == "dv"):
                direct.append(f"{name}:{node.lineno} {ast.unparse(node.func)}")
    assert not direct, f"read and write through dataverse/ (stores, catalog_repo) instead: {direct}"
