"""The payment processors say what they can do through payments.base's Protocols, not through probes:
each one implements every call of CardProcessor (so PaymentProcessor too) with the arguments the
services pass, a capability is a bool flag, and no service asks getattr/hasattr of a processor."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from payments.authorizenet import AuthorizeNetProcessor
from payments.base import CardProcessor, PaymentProcessor
from payments.stripe_adapter import StripeProcessor
from shared.errors import FatalError

ROOT = Path(__file__).resolve().parents[2]
PROCESSORS = [StripeProcessor, AuthorizeNetProcessor]


def _members(protocol: type) -> set[str]:
    return {name for name in (*vars(protocol), *getattr(protocol, "__annotations__", {}))
            if not name.startswith("_")} | {name for base in protocol.__mro__[1:]
                                             if base is not object and getattr(base, "_is_protocol", False)
                                             for name in _members(base)}


@pytest.mark.parametrize("processor", PROCESSORS, ids=lambda p: p.__name__)
def test_each_processor_implements_every_call(processor: type) -> None:
    missing = sorted(m for m in _members(CardProcessor) if not hasattr(processor, m))
    assert not missing, f"{processor.__name__} lacks {missing}"
    for name in _members(CardProcessor):
        wanted = getattr(CardProcessor, name, None)
        if not callable(wanted):
            continue
        # Keyword arguments the Protocol declares are accepted by the processor under the same names.
        declared = inspect.signature(wanted).parameters
        taken = inspect.signature(getattr(processor, name)).parameters
        keywords = {n for n, p in declared.items() if p.kind is p.KEYWORD_ONLY}
        assert keywords <= set(taken), f"{processor.__name__}.{name} does not take {keywords - set(taken)}"
        assert len([p for p in taken.values() if p.default is p.empty and p.name != "self"]) <= \
            len([p for p in declared.values() if p.default is p.empty and p.name != "self"]), \
            f"{processor.__name__}.{name} requires an argument the services never pass"


@pytest.mark.parametrize("processor", PROCESSORS, ids=lambda p: p.__name__)
def test_capabilities_are_flags(processor: type) -> None:
    assert isinstance(processor.cancels_payments, bool)
    assert isinstance(processor.name, str) and processor.name


def test_a_processor_that_cannot_cancel_says_so() -> None:
    processor = AuthorizeNetProcessor("http://127.0.0.1:9", "login", "key")
    assert processor.cancels_payments is False and isinstance(processor, PaymentProcessor)
    with pytest.raises(FatalError, match="Authorize.Net"):
        processor.cancel_payment("60012345678")


def test_no_service_probes_a_processor() -> None:
    probe = re.compile(r"\b(getattr|hasattr)\(\s*processors?\b")
    found = [f"{path.relative_to(ROOT)}:{n}"
             for package in ("payments", "accounting", "jobs", "portal", "functions", "cli")
             for path in sorted((ROOT / package).rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if probe.search(line)]
    assert not found, f"declare the capability on payments.base.PaymentProcessor instead: {found}"
