"""The webhook -> Partner Center -> change log chain in README is true (issue 16): every hop it names
exists, and none takes or returns a bare `Any`, so go-to-definition follows it to the end. sync/ as a
whole keeps its seams typed: no parameter or return of a bare `Any`, and `dv` is a DataverseClient."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HOP = re.compile(r"`([a-z_/]+)\.py:([A-Za-z_][A-Za-z_.]*)`")
BARE_ANY = re.compile(r"(None \| )?Any( \| None)?")


def _chain_hops() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("A webhook to the Partner Center call and back")
    section = text[start:text.index("One home per fact", start)]
    return HOP.findall(section)


def _resolve(path: str, name: str) -> Any:
    target: Any = importlib.import_module(path.replace("/", "."))
    for part in name.split("."):
        target = getattr(target, part)
    function = getattr(target, "_function", None)  # a Functions trigger: the blueprint's builder
    return function.get_user_function() if function is not None else target


def test_the_readme_chain_names_real_typed_hops() -> None:
    hops = _chain_hops()
    assert len(hops) >= 20, "README's webhook chain lost its hops"
    for wanted in (("sync/provisioning", "_call_provider"), ("dataverse/stores/change_logs", "write_back"),
                   ("partnercenter/client", "PartnerCenterClient.update_subscription")):
        assert wanted in hops, f"the chain no longer reaches {wanted}"
    untyped = []
    for path, name in hops:
        target = _resolve(path, name)
        if inspect.isclass(target):
            continue
        for param, annotation in inspect.get_annotations(target).items():
            if BARE_ANY.fullmatch(str(annotation)):
                untyped.append(f"{path}.py:{name} {param}: {annotation}")
    assert not untyped, f"hops typed Any: {untyped}"


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def test_sync_takes_and_returns_no_bare_any_and_dv_is_a_dataverse_client() -> None:
    problems = []
    for file in sorted((ROOT / "sync").glob("*.py")):
        for fn in _functions(ast.parse(file.read_text(encoding="utf-8"))):
            args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
            for arg in args:
                annotation = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                if BARE_ANY.fullmatch(annotation):
                    problems.append(f"{file.name}:{fn.name}({arg.arg}: {annotation})")
                if arg.arg == "dv" and annotation not in ("DataverseClient", "DataverseClient | None"):
                    problems.append(f"{file.name}:{fn.name}(dv: {annotation or 'untyped'})")
            if fn.returns is not None and BARE_ANY.fullmatch(ast.unparse(fn.returns)):
                problems.append(f"{file.name}:{fn.name} -> {ast.unparse(fn.returns)}")
    assert not problems, problems


DATAVERSE_CALLS = {"list", "get", "get_by_key", "create", "update", "upsert", "delete", "batch", "bulk_upsert",
                   "upsert_multiple", "create_multiple", "update_multiple"}


def test_sync_reads_and_writes_dataverse_only_through_the_stores() -> None:
    """sync/ hands `dv` to dataverse/ (stores, catalog_repo) and never calls the client itself: the rows
    it sees are the stores' typed records."""
    direct = []
    for file in sorted((ROOT / "sync").glob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in DATAVERSE_CALLS and ast.unparse(node.func.value) in ("dv", "self.dv")):
                direct.append(f"{file.name}:{node.lineno} {ast.unparse(node.func)}")
    assert not direct, direct
