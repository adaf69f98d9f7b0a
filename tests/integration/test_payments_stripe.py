"""Stripe adapter (official SDK) against the Stripe sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.base import PaymentProcessor
from payments.stripe_adapter import StripeProcessor, to_minor
from shared.errors import AuthError, ConflictError, ThrottledError, ValidationError

pytestmark = pytest.mark.integration


@pytest.fixture
def processor(stripe_server, quick_retry) -> StripeProcessor:
    return StripeProcessor("sk_test_123", api_base=stripe_server.url, retry=quick_retry, timeout=5)


def test_save_method_and_charge(processor, stripe_server):
    assert isinstance(processor, PaymentProcessor)
    method = processor.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "link-1")
    assert method.customer_ref.startswith("cus_") and method.method_ref.startswith("pm_")
    result = processor.charge(method, Decimal("123.45"), "USD", "inv-1-auto")
    assert result.status == "succeeded" and result.amount == Decimal("123.45")
    intent = stripe_server.app.sandbox.intents[result.processor_payment_id]
    assert intent["amount"] == 12345 and intent["metadata"]["cspb_paymentkey"] == "inv-1-auto"


def test_same_key_never_charges_twice(processor, stripe_server):
    method = processor.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "link-2")
    first = processor.charge(method, Decimal("10.00"), "USD", "inv-2-auto")
    second = processor.charge(method, Decimal("10.00"), "USD", "inv-2-auto")
    assert first.processor_payment_id == second.processor_payment_id and second.replayed
    assert len(stripe_server.app.sandbox.intents) == 1


def test_timeout_after_commit_is_retried_without_a_second_charge(stripe_server, quick_retry):
    processor = StripeProcessor("sk_test_123", api_base=stripe_server.url, retry=quick_retry, timeout=0.5)
    method = processor.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "link-3")
    stripe_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5, path_contains="/v1/payment_intents")
    result = processor.charge(method, Decimal("99.99"), "USD", "inv-3-auto")
    assert result.status == "succeeded" and result.replayed
    assert stripe_server.app.faults.injected["timeout"] == 1
    assert len(stripe_server.app.sandbox.intents) == 1


def test_decline_is_a_failed_result_not_an_exception(processor):
    method = processor.save_method("Fabrikam", "ap@fabrikam.example", "pm_card_chargeDeclined", "link-4")
    result = processor.charge(method, Decimal("5.00"), "USD", "inv-4-auto")
    assert result.status == "failed" and "declined" in result.error
    assert result.details["decline_code"] == "generic_decline"


def test_reusing_a_key_with_other_parameters_is_a_conflict(processor):
    method = processor.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "link-5")
    processor.charge(method, Decimal("1.00"), "USD", "inv-5-auto")
    with pytest.raises(ConflictError):
        processor.charge(method, Decimal("2.00"), "USD", "inv-5-auto")


def test_throttling_is_retried(processor, stripe_server):
    method = processor.save_method("Contoso", "ap@contoso.example", "pm_card_visa", "link-6")
    stripe_server.app.faults.set(throttle_every=1, retry_after_seconds=0, path_contains="/v1/payment_intents")
    with pytest.raises(ThrottledError):
        processor.charge(method, Decimal("1.00"), "USD", "inv-6-auto")
    stripe_server.app.faults.set(throttle_every=2, retry_after_seconds=0, path_contains="/v1/payment_intents")
    assert processor.charge(method, Decimal("1.00"), "USD", "inv-6b-auto").status == "succeeded"


def test_bad_key_and_bad_method(stripe_server, quick_retry, processor):
    with pytest.raises(AuthError):
        StripeProcessor("sk_live_nope", api_base=stripe_server.url, retry=quick_retry).save_method(
            "x", "x@example.com", "pm_card_visa", "k")
    with pytest.raises(ValidationError):
        processor.save_method("x", "x@example.com", "tok_not_a_method", "k2")


def test_minor_units():
    assert to_minor(Decimal("1000"), "JPY") == 1000
    assert to_minor(Decimal("12.345"), "USD") == 1235
