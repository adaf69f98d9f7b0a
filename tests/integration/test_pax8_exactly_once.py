"""Pax8 orders are sent exactly once through the provisioning worker (issue 13's design): Pax8 has no
idempotency key, so the change log records the intent (Sending, time, our reference) before the
POST and any later attempt reconciles with Pax8's orders first. Dataverse and Pax8 sandboxes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cli.demo_pax8 import map_one_company, record_acceptance
from dataverse.stores.provider_accounts import ProviderAccount
from dataverse.tables import EntitySet, Provider, SubscriptionStatus
from distributors.pax8 import Pax8Adapter
from shared.errors import RetriableError
from sync import order_once, provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.records import bind

pytestmark = pytest.mark.integration

SENDING, NEEDS_REVIEW, PROVISIONED = 6, 7, 2
LOG_COLUMNS = ["cspb_provisioningstatus", "cspb_providerorderid", "cspb_error", "cspb_senttoprovideron",
               "cspb_idempotencykey"]


def _new_order(dv: Any, company: ProviderAccount, quantity: int, name: str) -> str:
    """A rep's new Business Basic subscription and its New change log (Awaiting)."""
    sub = dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": f"{name} via Pax8", "cspb_provider": int(Provider.PAX8),
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company.id),
        "cspb_productid": "CFQ7TTC0LH18", "cspb_skuid": "0001", "cspb_quantity": 0, "cspb_term": "P1Y",
        "cspb_billingfrequency": "P1M", "cspb_status": int(SubscriptionStatus.PENDING),
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": f"test|{name}", "cspb_name": name, "cspb_changetype": 1, "cspb_oldquantity": 0,
        "cspb_newquantity": quantity, "cspb_origin": 1, "cspb_provisioningstatus": 1,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub)})


@pytest.fixture
def world(dv, pax8_server, quick_retry, monkeypatch):
    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "2")
    from shared.config import reset_settings

    reset_settings()
    pax8 = Pax8Adapter(pax8_server.url, "client", "secret", retry=quick_retry, timeout=2)
    run_provider_account_sync(dv, {int(Provider.PAX8): pax8})
    company = map_one_company(dv, pax8)
    record_acceptance(dv, company)
    return {"dv": dv, "pax8": pax8, "company": company, "orders": pax8_server.app.sandbox.state["orders"],
            "faults": pax8_server.app.faults, "adapters": {int(Provider.PAX8): pax8}}


def _run(world: dict[str, Any], log_id: str, now: datetime | None = None) -> provisioning.Outcome:
    return provisioning.process_change(log_id, dv=world["dv"], adapters=world["adapters"], now=now)


def _later() -> datetime:
    return datetime.now(UTC) + order_once.send_lease() + timedelta(seconds=1)


def test_the_intent_is_recorded_before_the_post(world):
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 2, "intent")
    seen: dict[str, Any] = {}
    real = world["pax8"].place_order

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS))
        return real(*args, **kwargs)

    world["pax8"].place_order = spy
    outcome = _run(world, log_id)
    assert outcome.status == "Provisioned"
    assert seen["cspb_provisioningstatus"] == SENDING and seen["cspb_senttoprovideron"] and seen["cspb_idempotencykey"]
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS)
    assert row["cspb_provisioningstatus"] == PROVISIONED and row["cspb_providerorderid"] == world["orders"][0]["id"]


def test_a_crash_before_the_post_posts_once_on_redelivery(world):
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 3, "crash-before")
    # The worker wrote Sending and died before the request left.
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, log_id, {"cspb_provisioningstatus": SENDING,
                                                      "cspb_senttoprovideron": datetime.now(UTC).isoformat(),
                                                      "cspb_idempotencykey": provisioning.idempotency_key_for(log_id)})
    with pytest.raises(RetriableError):  # the send might still be in flight on another worker
        _run(world, log_id)
    assert not world["orders"]
    outcome = _run(world, log_id, now=_later())
    assert outcome.status == "Provisioned" and len(world["orders"]) == 1
    assert _run(world, log_id, now=_later()).status == "AlreadyDone" and len(world["orders"]) == 1


def test_a_crash_after_the_commit_adopts_the_order_on_redelivery(world):
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 4, "crash-after")
    sub_id = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["_cspb_subscription_value"])[
        "_cspb_subscription_value"]

    def die_after_commit(dv_: Any, *args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")  # the worker dies right after Pax8 committed, before any write-back

    original = provisioning._ordered_status
    provisioning._ordered_status = die_after_commit  # type: ignore[assignment]
    try:
        with pytest.raises(SystemExit):
            _run(world, log_id)
    finally:
        provisioning._ordered_status = original  # type: ignore[assignment]
    assert len(world["orders"]) == 1
    assert dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS)["cspb_provisioningstatus"] == SENDING
    outcome = _run(world, log_id, now=_later())
    assert outcome.status == "Provisioned" and outcome.replayed and len(world["orders"]) == 1
    assert outcome.order_id == world["orders"][0]["id"]
    sub = dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_providersubscriptionid"])
    assert sub["cspb_providersubscriptionid"] == world["orders"][0]["lineItems"][0]["subscriptionId"]


def test_a_lost_response_is_settled_in_the_same_attempt(world):
    log_id = _new_order(world["dv"], world["company"], 5, "lost")
    world["faults"].set(timeout_after_commit=1, stall_seconds=3, path_contains="/v1/orders", method="POST")
    outcome = _run(world, log_id)
    assert outcome.status == "Provisioned" and outcome.replayed and len(world["orders"]) == 1


def test_an_order_held_by_another_change_log_is_never_adopted(world):
    dv = world["dv"]
    first = _new_order(dv, world["company"], 6, "first")
    assert _run(world, first).status == "Provisioned"
    second = _new_order(dv, world["company"], 6, "second")  # same product and quantity, same day
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, second, {"cspb_provisioningstatus": SENDING,
                                                      "cspb_senttoprovideron": datetime.now(UTC).isoformat()})
    outcome = _run(world, second, now=_later())
    # The first change's order is excluded, so nothing of the second's was committed: it buys its own.
    assert outcome.status == "Provisioned" and not outcome.replayed and len(world["orders"]) == 2
    ids = [dv.get(EntitySet.LICENSE_CHANGE_LOGS, x, select=LOG_COLUMNS)["cspb_providerorderid"] for x in (first, second)]
    assert len(set(ids)) == 2


def test_ambiguous_candidates_stop_at_needs_review(world):
    dv = world["dv"]
    one, two = _new_order(dv, world["company"], 7, "twin-1"), _new_order(dv, world["company"], 7, "twin-2")
    sent = datetime.now(UTC)
    for log_id in (one, two):
        dv.update(EntitySet.LICENSE_CHANGE_LOGS, log_id, {"cspb_provisioningstatus": SENDING,
                                                          "cspb_senttoprovideron": sent.isoformat()})
    # One of the two sends reached Pax8: which one cannot be told.
    basic = world["pax8"].resolve_product_id("CFQ7TTC0LH18:0001")
    world["pax8"].place_order(world["company"].external_id, basic, 7, "P1M", "P1Y", "unknown")
    outcome = _run(world, one, now=_later())
    assert outcome.status == "NeedsReview" and world["orders"][0]["id"] in outcome.message
    assert "twin" not in outcome.message or two in outcome.message
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, one, select=LOG_COLUMNS)
    assert row["cspb_provisioningstatus"] == NEEDS_REVIEW and world["orders"][0]["id"] in row["cspb_error"]
    assert len(world["orders"]) == 1
    # A redelivery of a change under review does nothing.
    assert _run(world, one, now=_later()).status == "AlreadyDone" and len(world["orders"]) == 1


def test_the_provider_order_id_is_unique_per_change_log(world):
    from dataverse import order_ledger

    dv = world["dv"]
    one, two = _new_order(dv, world["company"], 1, "u1"), _new_order(dv, world["company"], 1, "u2")
    assert order_ledger.claim_order(dv, one, "order-x")
    assert not order_ledger.claim_order(dv, two, "order-x")
