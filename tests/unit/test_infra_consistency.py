"""infra/ cannot be compiled here (no Bicep CLI), so its agreement with the code is checked as text:
every app setting the code reads is provided, the queue names agree everywhere, and schedules are settings."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
SETTING_KEY = re.compile(r"^\s*'?([A-Za-z][A-Za-z0-9_]*(?:__[A-Za-z]+)?)'?\s*:", re.M)


def _infra_settings() -> set[str]:
    text = (INFRA / "resources.bicep").read_text()
    keys = set()
    for block in re.findall(r"var (?:plainSettings|secretSettings) = \{(.*?)\n\}", text, re.S):
        keys |= set(SETTING_KEY.findall(block))
    return keys


def _sample_settings() -> set[str]:
    return set(json.loads((REPO / "local.settings.sample.json").read_text())["Values"])


def _trigger_calls() -> list[tuple[str, str, dict[str, str]]]:
    """(module, decorator, keyword string arguments) for every trigger decorator in functions/."""
    found = []
    for path in sorted((REPO / "functions").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.endswith("_trigger"):
                kwargs = {k.arg: k.value.value for k in node.keywords
                          if k.arg and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)}
                found.append((path.name, node.func.attr, kwargs))
    return found


def _code_settings() -> set[str]:
    from shared.config import Settings, env_name

    names = {env_name(f.name) for f in fields(Settings)}
    for _, _, kwargs in _trigger_calls():
        schedule = kwargs.get("schedule", "")
        if schedule.startswith("%"):
            names.add(schedule.strip("%"))
    return names


def _connections() -> set[str]:
    return {kwargs["connection"] for _, _, kwargs in _trigger_calls() if "connection" in kwargs}


def test_every_setting_the_code_reads_is_provided_by_infra_or_the_sample():
    provided = _infra_settings() | _sample_settings()
    missing = sorted(_code_settings() - provided)
    assert not missing, f"settings read by the code but set by neither infra/resources.bicep nor local.settings.sample.json: {missing}"


def test_trigger_connections_resolve_in_infra_and_the_sample():
    for provided, where in ((_infra_settings(), "infra/resources.bicep"), (_sample_settings(), "local.settings.sample.json")):
        for name in _connections():
            # A connection is either a connection string setting or the prefix of identity-based settings.
            assert name in provided or any(k.startswith(name + "__") for k in provided), f"{name} missing from {where}"


def test_timer_schedules_are_app_settings_with_defaults():
    timers = [(m, k) for m, deco, k in _trigger_calls() if deco == "timer_trigger"]
    assert timers
    infra, sample = _infra_settings(), _sample_settings()
    for module, kwargs in timers:
        schedule = kwargs.get("schedule", "")
        assert re.fullmatch(r"%CSPB_[A-Z_]+_SCHEDULE%", schedule), (
            f"functions/{module}: the timer schedule must be an app setting such as '%CSPB_X_SCHEDULE%' "
            f"(with its default in infra/resources.bicep and local.settings.sample.json), not {schedule!r}")
        name = schedule.strip("%")
        assert name in infra and name in sample, f"{name} needs a default in infra/resources.bicep and local.settings.sample.json"


def test_queue_names_agree_between_infra_triggers_and_code():
    from shared import queue

    text = (INFRA / "resources.bicep").read_text()
    infra_queues = set(re.findall(r"var \w+QueueName = '([a-z0-9-]+)'", text))
    trigger_queues = {k["queue_name"] for _, deco, k in _trigger_calls() if "queue_name" in k}
    code_queues = {queue.PROVISIONING_QUEUE, queue.SUBSCRIPTION_SYNC_QUEUE, queue.CATALOG_SYNC_QUEUE,
                   queue.BILLING_QUEUE}
    assert trigger_queues <= infra_queues, f"triggers listen on queues infra/ does not create: {trigger_queues - infra_queues}"
    assert code_queues <= infra_queues, f"the code sends to queues infra/ does not create: {code_queues - infra_queues}"


def test_service_bus_queues_have_duplicate_detection_max_delivery_5_and_dead_letter():
    text = (INFRA / "resources.bicep").read_text()
    assert "requiresDuplicateDetection: true" in text
    assert "maxDeliveryCount: 5" in text
    assert "deadLetteringOnMessageExpiration: true" in text


def test_function_app_is_python_311_on_flex_consumption_with_managed_identity_roles():
    text = (INFRA / "resources.bicep").read_text()
    assert "FlexConsumption" in text and "name: 'python', version: '3.11'" in text
    for role in ("serviceBusDataSender", "serviceBusDataReceiver", "storageBlobDataContributor", "keyVaultSecretsUser"):
        assert f"roles.{role})" in text, f"role assignment {role} missing"
    assert (REPO / "azure.yaml").exists() and "provider: bicep" in (REPO / "azure.yaml").read_text()


def test_secrets_are_key_vault_references_in_infra():
    text = (INFRA / "resources.bicep").read_text()
    block = re.search(r"var secretSettings = \{(.*?)\n\}", text, re.S)
    assert block
    for line in block.group(1).strip().splitlines():
        assert "${kvRef}" in line, f"secret setting not a Key Vault reference: {line.strip()}"
