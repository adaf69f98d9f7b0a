"""charge_invoice / redeem / webhook events against the Dataverse and Stripe sandboxes."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from payments import service
from payments.links import create_payment_link
from payments.stripe_adapter import StripeProcessor
from shared.blobstore import LocalBlobStore
from shared.errors import ConflictError, RetriableError

pytestmark = pytest.mark.integration


@pytest.fixture
def stripe(stripe_server, quick_retry) -> StripeProcessor:
    return StripeProcessor("sk_test_1", api_base=stripe_server.url, retry=quick_retry, timeout=0.5)


def _token(stripe: StripeProcessor, card: str = "pm_card_visa") -> str:
    return stripe.save_method("Contoso", "ap@contoso.example", card, card + "-seed").token()


def test_autocharge_pays_the_invoice_once(dv, seed_invoice, stripe, stripe_server):
    ids = seed_invoice(token=_token(stripe))
    first = service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    again = service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    assert first.status == "succeeded" and first.amount == Decimal("124.80") and first.balance == 0
    assert again.replayed and len(stripe_server.app.sandbox.intents) == 1
    invoice = dv.get("invoices", ids["invoice"])
    assert invoice["cspb_paymentstatus"] == 3 and Decimal(str(invoice["cspb_amountpaid"])) == Decimal("124.80")
    rows = list(dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['invoice']}"))
    assert len(rows) == 1 and rows[0]["cspb_status"] == 2


def test_timeout_after_commit_never_takes_money_twice(dv, seed_invoice, stripe, stripe_server):
    ids = seed_invoice(token=_token(stripe))
    stripe_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5, path_contains="/v1/payment_intents")
    outcome = service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    assert outcome.status == "succeeded" and outcome.replayed
    assert len(stripe_server.app.sandbox.intents) == 1


def test_a_crash_after_the_pending_row_resumes_with_the_same_key(dv, seed_invoice, stripe, stripe_server):
    ids = seed_invoice(token=_token(stripe))
    stripe_server.app.faults.set(fail_every=1, path_contains="/v1/payment_intents")
    with pytest.raises(RetriableError):
        service.charge_invoice(ids["invoice"], dv=dv, processor=stripe)
    pending = list(dv.list("cspb_payments", filter=f"_cspb_invoice_value eq {ids['invoice']}"))
    assert pending[0]["cspb_status"] == 1
    stripe_server.app.faults.clear()
    assert service.charge_invoice(ids["invoice"], dv=dv, processor=stripe).status == "succeeded"
    assert len(stripe_server.app.sandbox.intents) == 1


def test_partial_payments_up_to_the_balance(dv, seed_invoice, stripe):
    ids = seed_invoice(token=_token(stripe))
    part = service.charge_invoice(ids["invoice"], amount=Decimal("24.80"), purpose="portal-1", dv=dv,
                                  processor=stripe)
    assert part.balance == Decimal("100.00")
    assert dv.get("invoices", ids["invoice"])["cspb_paymentstatus"] == 2
    rest = service.charge_invoice(ids["invoice"], amount=Decimal("500"), purpose="portal-2", dv=dv, processor=stripe)
    assert rest.amount == Decimal("100.00") and rest.balance == 0
    assert service.charge_invoice(ids["invoice"], purpose="portal-3", dv=dv, processor=stripe).status == "nothing_due"


def test_decline_and_missing_method_are_recorded(dv, seed_invoice, stripe):
    declined = seed_invoice(token=_token(stripe, "pm_card_chargeDeclined"))
    outcome = service.charge_invoice(declined["invoice"], dv=dv, processor=stripe)
    assert outcome.status == "failed" and "declined" in outcome.message
    assert dv.get("invoices", declined["invoice"])["cspb_paymentstatus"] == 4
    no_method = seed_invoice(token="")
    assert service.charge_invoice(no_method["invoice"], dv=dv, processor=stripe).status == "no_method"


def test_payment_link_redeem_stores_only_tokens_and_works_once(dv, seed_invoice, stripe, tmp_path):
    ids = seed_invoice(token="")
    token = create_payment_link(ids["contract_number"]).rsplit("/", 1)[1]
    store = LocalBlobStore(tmp_path / "links")
    method = service.redeem(token, "pm_card_visa", dv=dv, processor=stripe, store=store)
    contract = dv.get("cspb_billingcontracts", ids["contract"])
    assert contract["cspb_paymenttoken"] == method.token() and method.customer_ref.startswith("cus_")
    with pytest.raises(ConflictError):
        service.redeem(token, "pm_card_visa", dv=dv, processor=stripe, store=store)
    assert service.charge_invoice(ids["invoice"], dv=dv, processor=stripe).status == "succeeded"


def test_webhook_event_settles_a_pending_payment(dv, seed_invoice, stripe):
    ids = seed_invoice(token=_token(stripe))
    key = service.payment_key(ids["invoice"], "autocharge")
    from payments import invoice_records as records

    invoice = records.load_invoice(dv, ids["invoice"])
    records.write_payment(dv, invoice, key, amount=Decimal("124.80"), processor="stripe", status=1)
    event = json.loads(json.dumps({"id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
                                   "data": {"object": {"id": "pi_1", "metadata": {"cspb_paymentkey": key}}}}))
    assert service.apply_webhook_event(event, dv=dv) == "applied"
    assert service.apply_webhook_event(event, dv=dv) == "duplicate"
    assert dv.get("invoices", ids["invoice"])["cspb_paymentstatus"] == 3
