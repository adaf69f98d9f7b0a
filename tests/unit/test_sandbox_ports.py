"""Sandbox ports have one home (sandbox/ports.py): the registry starts the servers there, sandbox
mode points the settings there, and the README and local.settings.sample.json say the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sandbox.ports import PORTS, SETTING_TARGETS, setting_urls
from sandbox.registry import SANDBOXES
from shared.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
SANDBOX_PORTS = {name: port for name, port in PORTS.items() if name in SANDBOXES}


def test_the_registry_and_sandbox_mode_use_the_table() -> None:
    assert {name: port for name, (_target, port) in SANDBOXES.items()} == SANDBOX_PORTS
    assert len(set(PORTS.values())) == len(PORTS), "two services on one port"
    settings = Settings.from_env({"CSPB_MODE": "sandbox"})
    for field, url in setting_urls().items():
        assert getattr(settings, field) == url
    assert Settings(mode="sandbox").dataverse_url == setting_urls()["dataverse_url"]


def test_local_settings_sample_points_at_the_same_ports() -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    urls = setting_urls()
    listed = {field: values[env_name(field)] for field in SETTING_TARGETS if env_name(field) in values}
    assert listed and listed == {field: urls[field] for field in listed}


def test_the_readme_names_the_tables_ports() -> None:
    text = (ROOT / "README.md").read_text()
    low, high = re.search(r"\(ports (\d+)-(\d+)\)", text).groups()  # type: ignore[union-attr]
    assert (int(low), int(high)) == (min(SANDBOX_PORTS.values()), max(SANDBOX_PORTS.values()))
    assert re.search(r"`sandbox/entra`, port (\d+)", text).group(1) == str(PORTS["entra"])  # type: ignore[union-attr]
    assert re.search(r"cspbridge portal +# .*port (\d+)", text).group(1) == str(PORTS["portal"])  # type: ignore[union-attr]


def test_no_other_app_module_spells_a_sandbox_port() -> None:
    spelled = re.compile(r"\b(" + "|".join(str(p) for p in PORTS.values()) + r")\b")
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[0] in (".venv", "node_modules", "tests", "var") or rel == Path("sandbox/ports.py"):
            continue
        offenders += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if spelled.search(line)]
    assert not offenders, offenders
