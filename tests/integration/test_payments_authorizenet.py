"""Authorize.Net adapter against its sandbox over real HTTP."""

from __future__ import annotations

from decimal import Decimal

import pytest

from payments.authorizenet import AuthorizeNetProcessor
from payments.base import PaymentProcessor
from shared.errors import AuthError

pytestmark = pytest.mark.integration


@pytest.fixture
def processor(authorizenet_server, quick_retry) -> AuthorizeNetProcessor:
    return AuthorizeNetProcessor(authorizenet_server.url + "/xml/v1/request.api", "login", "txkey",
                                 retry=quick_retry, timeout=5)


def test_save_and_charge(processor, authorizenet_server):
    assert isinstance(processor, PaymentProcessor)
    method = processor.save_method("Contoso", "ap@contoso.example", "eyJ0b2tlbiI6ImFwcHJvdmUifQ", "link-a1")
    result = processor.charge(method, Decimal("42.10"), "USD", "inv-a1-autocharge")
    assert result.status == "succeeded" and result.processor_payment_id
    assert len(authorizenet_server.app.sandbox.transactions) == 1


def test_saving_twice_reuses_the_profile(processor, authorizenet_server):
    first = processor.save_method("Contoso", "ap@contoso.example", "tokA", "link-a2")
    second = processor.save_method("Contoso", "ap@contoso.example", "tokB", "link-a2")
    assert first.customer_ref == second.customer_ref and first.method_ref != second.method_ref
    assert len(authorizenet_server.app.sandbox.profiles) == 1


def test_lost_response_is_not_charged_twice(authorizenet_server, quick_retry):
    processor = AuthorizeNetProcessor(authorizenet_server.url + "/xml/v1/request.api", "login", "txkey",
                                      retry=quick_retry, timeout=0.5)
    method = processor.save_method("Contoso", "ap@contoso.example", "tok", "link-a3")
    authorizenet_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5)
    result = processor.charge(method, Decimal("10.00"), "USD", "inv-a3-autocharge")
    assert result.status == "succeeded" and result.replayed
    assert len(authorizenet_server.app.sandbox.transactions) == 1
    again = processor.charge(method, Decimal("10.00"), "USD", "inv-a3-autocharge")
    assert again.processor_payment_id == result.processor_payment_id


def test_decline(processor):
    method = processor.save_method("Fabrikam", "ap@fabrikam.example", "DECLINE-me", "link-a4")
    result = processor.charge(method, Decimal("10.00"), "USD", "inv-a4")
    assert result.status == "failed" and "declined" in result.error


def test_bad_credentials(authorizenet_server, quick_retry):
    authorizenet_server.app.sandbox.login_id, authorizenet_server.app.sandbox.transaction_key = "right", "right"
    processor = AuthorizeNetProcessor(authorizenet_server.url + "/xml/v1/request.api", "login", "wrong",
                                      retry=quick_retry)
    with pytest.raises(AuthError):
        processor.save_method("x", "x@example.com", "tok", "k")


def test_a_held_charge_stays_pending_on_the_invoice_and_is_settled_by_its_status(dv, seed_invoice, processor,
                                                                                 authorizenet_server):
    from payments.service import charge_invoice

    method = processor.save_method("Contoso", "ap@contoso.example", "REVIEW-held", "link-h1")
    ids = seed_invoice(provider="authorizenet", token=method.token())
    first = charge_invoice(ids["invoice"], dv=dv, processor=processor)
    assert first.status == "pending" and first.balance == Decimal(ids["total"])
    # The queue or a person retries: the held transaction is read, not charged again.
    again = charge_invoice(ids["invoice"], dv=dv, processor=processor)
    assert again.status == "pending" and len(authorizenet_server.app.sandbox.transactions) == 1
    held = authorizenet_server.app.sandbox.transactions[0]["transId"]
    authorizenet_server.app.sandbox.release(held, approve=True)
    settled = charge_invoice(ids["invoice"], dv=dv, processor=processor)
    assert settled.status == "succeeded" and settled.balance == 0
    assert len(authorizenet_server.app.sandbox.transactions) == 1
    payment = dv.get_by_key("cspb_payments", {"cspb_paymentkey": first.key})
    assert payment["cspb_processorpaymentid"] == held


def test_a_charge_in_another_currency_is_refused_clearly(dv, seed_invoice, processor, authorizenet_server):
    from payments.service import charge_invoice

    method = processor.save_method("Contoso", "ap@contoso.example", "tok-eur", "link-h2")
    ids = seed_invoice(provider="authorizenet", token=method.token(), currency="EUR")
    outcome = charge_invoice(ids["invoice"], dv=dv, processor=processor)
    assert outcome.status == "failed" and "USD only" in outcome.message
    assert not authorizenet_server.app.sandbox.transactions


def test_held_charges_are_settled_by_reading_their_status(dv, seed_invoice, processor, authorizenet_server):
    from payments.service import charge_invoice, settle_held

    method = processor.save_method("Contoso", "ap@contoso.example", "REVIEW-settle", "link-h3")
    ids = seed_invoice(provider="authorizenet", token=method.token())
    assert charge_invoice(ids["invoice"], dv=dv, processor=processor).status == "pending"
    processors = {"authorizenet": processor}
    assert [s["status"] for s in settle_held(dv=dv, processors=processors)] == ["pending"]
    authorizenet_server.app.sandbox.release(authorizenet_server.app.sandbox.transactions[0]["transId"], approve=False)
    assert [s["status"] for s in settle_held(dv=dv, processors=processors)] == ["failed"]
    assert settle_held(dv=dv, processors=processors) == []  # decided: nothing held any more
    assert len(authorizenet_server.app.sandbox.transactions) == 1
