"""Every job the demo runs is deployed: each demo step names the Azure Functions that run its job, those
functions exist, and no trigger in functions/ is left unaccounted for."""

from __future__ import annotations

import ast
from pathlib import Path

from cli.demo_steps import OPERATIONS_TRIGGERS, STEP_TRIGGERS, STEPS
from functions import BLUEPRINT_MODULES

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"


def _triggers() -> dict[str, str]:
    """Function name -> trigger kind, for every decorated function in functions/."""
    found = {}
    for path in FUNCTIONS.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef):
                for deco in node.decorator_list:
                    if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) and (
                            deco.func.attr.endswith("_trigger") or deco.func.attr == "route"):
                        found[node.name] = deco.func.attr
    return found


def test_every_demo_step_names_its_triggers():
    assert [name for name, _ in STEPS] == list(STEP_TRIGGERS)


def test_named_triggers_exist_and_every_trigger_is_accounted_for():
    triggers = _triggers()
    named = {t for names in STEP_TRIGGERS.values() for t in names} | set(OPERATIONS_TRIGGERS)
    assert named - set(triggers) == set(), "demo steps name functions that do not exist"
    assert set(triggers) - named == set(), "functions/ has triggers that no demo step claims: add them to cli/demo_steps.STEP_TRIGGERS (or OPERATIONS_TRIGGERS)"


def test_every_job_step_has_a_trigger_and_every_trigger_module_is_registered():
    for step, names in STEP_TRIGGERS.items():
        assert names or step == "dataverse round trip", f"demo step {step!r} has no trigger in functions/"
    modules = {p.stem for p in FUNCTIONS.glob("*.py") if p.stem != "__init__"}
    assert modules == set(BLUEPRINT_MODULES)


def test_the_jobs_issue_18_names_are_deployed():
    triggers = _triggers()
    for name in ("journal_export_timer", "authorizenet_webhook", "recon_timer", "dunning_timer"):
        assert name in triggers
