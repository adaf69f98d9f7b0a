"""The distributor port (distributors/base.py) says what every adapter takes and can do: each adapter
accepts the Protocol's arguments, declares its capabilities as flags that match the calls it really
implements, is keyed by the Provider enum, and the engine reads the flags instead of probing."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from billing.models import Provider
from distributors.base import AdapterBase, DistributorAdapter, adapter_of, provider_of
from distributors.ingram import IngramAdapter
from distributors.manual import ManualAdapter
from distributors.partnercenter_adapter import PartnerCenterAdapter
from distributors.pax8 import Pax8Adapter
from distributors.tdsynnex import TdSynnexAdapter

ROOT = Path(__file__).resolve().parents[2]
ADAPTERS = {Provider.PARTNER_CENTER: PartnerCenterAdapter, Provider.PAX8: Pax8Adapter,
            Provider.TDSYNNEX: TdSynnexAdapter, Provider.INGRAM: IngramAdapter, Provider.MANUAL: ManualAdapter}
# capability flag -> the optional call it promises
OPTIONAL_CALLS = {"sets_auto_renew": "set_auto_renew", "schedules_next_term": "schedule_next_term",
                  "transitions": "transition", "lists_azure_entitlements": "list_azure_entitlements",
                  "attests_agreements": "attest_customer_agreement"}
FLAGS = ("idempotent_orders", "finds_by_reference", "uses_order_context", "needs_company", *OPTIONAL_CALLS)


def _protocol_methods() -> list[str]:
    return [name for name, value in vars(DistributorAdapter).items()
            if callable(value) and not name.startswith("_")]


@pytest.mark.parametrize("provider", list(ADAPTERS), ids=lambda p: p.name.lower())
def test_adapter_takes_what_the_protocol_passes(provider: Provider) -> None:
    cls = ADAPTERS[provider]
    assert cls.provider is provider
    for name in _protocol_methods():
        wanted = inspect.signature(getattr(DistributorAdapter, name)).parameters
        have = inspect.signature(getattr(cls, name)).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in have.values())
        missing = [p for p in wanted if p not in have and not takes_any]
        assert not missing, f"{cls.__name__}.{name} does not take {missing}"
        # Keyword-only in the Protocol (company_id=, context=, reference=) must not be required by the adapter.
        required_extra = [p.name for p in have.values() if p.name not in wanted and p.default is p.empty
                          and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        assert not required_extra, f"{cls.__name__}.{name} requires {required_extra}, which the engine never passes"


@pytest.mark.parametrize("provider", list(ADAPTERS), ids=lambda p: p.name.lower())
def test_capability_flags_match_what_the_adapter_implements(provider: Provider) -> None:
    cls = ADAPTERS[provider]
    assert issubclass(cls, AdapterBase)
    for flag in FLAGS:
        assert isinstance(getattr(cls, flag), bool), f"{cls.__name__}.{flag} is not declared as a bool"
    for flag, call in OPTIONAL_CALLS.items():
        implemented = getattr(cls, call) is not getattr(AdapterBase, call)
        assert getattr(cls, flag) == implemented, f"{cls.__name__}: {flag} says {getattr(cls, flag)} but " \
                                                  f"{call} is {'' if implemented else 'not '}implemented"
    if not cls.idempotent_orders or cls.finds_by_reference:
        assert cls.find_orders is not AdapterBase.find_orders, f"{cls.__name__} settles lost orders without find_orders"


def test_an_unsupported_call_names_the_provider() -> None:
    from shared.errors import FatalError

    adapter = ManualAdapter.__new__(ManualAdapter)
    with pytest.raises(FatalError, match="manual does not offer transitions"):
        adapter.transition("s", "p:s", 1, "P1Y", "P1M", "k")


def test_adapters_are_looked_up_by_the_provider_enum() -> None:
    pc = object()
    adapters = {Provider.PARTNER_CENTER: pc}
    assert provider_of(1) is Provider.PARTNER_CENTER and provider_of("4") is Provider.TDSYNNEX
    assert provider_of(None) is None and provider_of(99) is None and provider_of("pax8") is None
    assert provider_of(True) is None
    assert adapter_of(adapters, 1) is pc and adapter_of(adapters, Provider.PARTNER_CENTER) is pc  # type: ignore[arg-type]
    assert adapter_of(adapters, 2) is None and adapter_of(adapters, None) is None  # type: ignore[arg-type]


def _probes(path: Path) -> list[str]:
    """getattr/hasattr calls whose object is an adapter (by name): what the capability flags replace."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            target = node.args[0] if node.args else None
            name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) \
                else ""
            if "adapter" in name.lower() or name in ("pc", "pax8", "provider_adapter"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_the_engine_reads_declared_capabilities_not_probes() -> None:
    files = [p for folder in ("sync", "jobs", "recon", "portal", "cli", "functions") for p in (ROOT / folder).rglob("*.py")]
    probes = [hit for path in files for hit in _probes(path)]
    assert not probes, f"feature probes on adapters (declare a capability on DistributorAdapter instead): {probes}"
