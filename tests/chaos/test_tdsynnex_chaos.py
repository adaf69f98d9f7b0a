"""TD SYNNEX StreamOne Ion purchases under the faults the Pax8 and Partner Center tests inject: answers
lost after the commit, refused connections, delays, 5xx and 429 from the sandbox, crashes before the
POST and after the commit. TD SYNNEX has no idempotency key, so every order carries our reference
(the change log's key) and a later attempt searches the customer's orders for it before any new
POST. Every change log orders the same product and quantity: only the reference tells them apart.
Counted at the sandbox: 0 double, 0 missing. Nothing is timed.

A network that delivers the same POST twice would buy twice (nothing on the wire lets TD SYNNEX tell
the copies apart), so the proxy duplicates reads only."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import cycle
from typing import Any

import pytest

from dataverse.tables import EntitySet, Provider, SubscriptionStatus
from distributors.tdsynnex import TdSynnexAdapter
from shared.errors import RetriableError
from shared.http import RetryPolicy
from sync import order_once, provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.records import bind

pytestmark = pytest.mark.integration

TD = int(Provider.TDSYNNEX)
SENDING, PROVISIONED = 6, 2
LOG_COLUMNS = ["cspb_provisioningstatus", "cspb_providerorderid", "cspb_senttoprovideron", "cspb_idempotencykey"]


@pytest.fixture
def world(dv, tdsynnex, tdsynnex_server, fault_proxy, monkeypatch):
    from shared.config import reset_settings

    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "1")  # the send lease: 1 s + 2 s margin
    reset_settings()
    dv.create(EntitySet.ACCOUNTS, {"name": "Litware Inc", "cspb_domain": "litware.example"})
    run_provider_account_sync(dv, {TD: tdsynnex})
    company = next(r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid",
                                                                           "cspb_externalid"],
                                      filter=f"cspb_provider eq {TD}") if r["cspb_externalid"] == "49958")
    # The orders are what is tested: the access token is fetched once, outside the faults (a lost
    # answer of the rotating refresh token has its own tests).
    access = tdsynnex.http.token_provider()
    proxy = fault_proxy(tdsynnex_server.url, plan=lambda method, path: "pass", delay_seconds=0.3)
    retry = RetryPolicy(max_attempts=4, base_seconds=0.01, cap_seconds=0.05, max_retry_after=0.05)
    td = TdSynnexAdapter(proxy.url, "5212", lambda: access, retry=retry, timeout=1.0)
    return {"dv": dv, "td": td, "proxy": proxy, "company": company, "faults": tdsynnex_server.app.faults,
            "sandbox": tdsynnex_server.app.sandbox, "orders": tdsynnex_server.app.sandbox.state["orders"]}


def _new_order(dv: Any, company: dict[str, Any], name: str, quantity: int = 3) -> str:
    sub = dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": f"{name} via TD SYNNEX", "cspb_provider": TD,
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company["cspb_provideraccountid"]),
        "cspb_productid": "CFQ7TTC0LH18", "cspb_skuid": "0001", "cspb_quantity": 0, "cspb_term": "P1Y",
        "cspb_billingfrequency": "P1M", "cspb_status": int(SubscriptionStatus.PENDING),
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": f"chaos|{name}", "cspb_name": name, "cspb_changetype": 1, "cspb_oldquantity": 0,
        "cspb_newquantity": quantity, "cspb_origin": 1, "cspb_provisioningstatus": 1,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub)})


def _redeliver_until_settled(world: dict[str, Any], logs: list[str], rounds: int = 12) -> Counter:
    """What the queue does: deliver every change log, and redeliver the ones that raised, each time
    later than the last send's lease (the visibility timeout of the real queue)."""
    outcomes: Counter = Counter()
    pending = list(logs)
    for n in range(rounds):
        later = datetime.now(UTC) + (order_once.send_lease() + timedelta(seconds=1)) * n
        left = []
        for log_id in pending:
            try:
                outcomes[provisioning.process_change(log_id, dv=world["dv"], adapters={TD: world["td"]},
                                                     now=later).status] += 1
            except RetriableError:
                outcomes["retried"] += 1
                left.append(log_id)
        pending = left
        if not pending:
            break
    assert not pending, f"{len(pending)} change log(s) never settled"
    return outcomes


def _tally(world: dict[str, Any], logs: list[str]) -> dict[str, Any]:
    rows = [world["dv"].get(EntitySet.LICENSE_CHANGE_LOGS, x, select=LOG_COLUMNS) for x in logs]
    per_log = Counter(o.get("referenceId") for o in world["orders"])
    bought = [per_log.get(r["cspb_idempotencykey"], 0) for r in rows]
    order_ids = [r["cspb_providerorderid"] for r in rows]
    return {"intended": len(logs), "purchases": len(world["orders"]), "per_change_log": Counter(bought),
            "double": sum(1 for b in bought if b > 1) + len(order_ids) - len(set(order_ids)),
            "missing": sum(1 for r in rows if r["cspb_provisioningstatus"] != PROVISIONED or not
                           r["cspb_providerorderid"]) + bought.count(0)}


def test_injected_network_faults_never_buy_twice_or_drop_an_order(world) -> None:
    writes = cycle(["drop_after_commit", "pass", "refuse", "delay", "drop_after_commit", "pass", "refuse"])
    reads = cycle(["pass", "duplicate", "refuse", "delay", "pass", "drop_after_commit"])

    def plan(method: str, path: str) -> str:
        return next(writes) if method == "POST" else next(reads)

    logs = [_new_order(world["dv"], world["company"], f"net-{i}") for i in range(12)]
    world["proxy"].plan = plan
    outcomes = _redeliver_until_settled(world, logs)
    world["proxy"].plan = lambda method, path: "pass"
    tally = _tally(world, logs)
    faults = sum(n for kind, n in world["proxy"].faults.items() if kind != "pass")
    print(f"\ntd synnex network faults: {dict(world['proxy'].faults)} -> {faults}; outcomes {dict(outcomes)}; {tally}")
    assert faults >= 30
    assert tally["double"] == 0 and tally["missing"] == 0 and tally["purchases"] == tally["intended"]
    assert tally["per_change_log"] == Counter({1: len(logs)})


def test_5xx_and_throttling_from_td_synnex_never_buy_twice_or_drop(world) -> None:
    logs = [_new_order(world["dv"], world["company"], f"5xx-{i}") for i in range(8)]
    world["faults"].set(fail_every=3, throttle_every=4, retry_after_seconds=0.01, path_contains="/orders")
    outcomes = _redeliver_until_settled(world, logs)
    injected = dict(world["faults"].injected)
    world["faults"].clear()
    tally = _tally(world, logs)
    print(f"\ntd synnex 5xx/429: {injected}; outcomes {dict(outcomes)}; {tally}")
    assert injected.get("500", 0) >= 4 and injected.get("429", 0) >= 2
    assert tally["double"] == 0 and tally["missing"] == 0 and tally["purchases"] == tally["intended"]


def test_timeouts_after_the_commit_are_found_by_reference(world) -> None:
    logs = [_new_order(world["dv"], world["company"], f"timeout-{i}") for i in range(4)]
    world["faults"].set(timeout_after_commit=4, stall_seconds=1.5, path_contains="/orders", method="POST")
    outcomes = _redeliver_until_settled(world, logs)
    world["faults"].clear()
    tally = _tally(world, logs)
    assert tally["double"] == 0 and tally["missing"] == 0 and tally["purchases"] == 4, (outcomes, tally)


def test_the_intent_is_recorded_before_the_post(world) -> None:
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], "intent")
    seen: dict[str, Any] = {}
    real = world["td"].place_order

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.update(dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS))
        return real(*args, **kwargs)

    world["td"].place_order = spy
    assert provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]}).status == "Provisioned"
    assert seen["cspb_provisioningstatus"] == SENDING and seen["cspb_senttoprovideron"]
    assert world["orders"][0]["referenceId"] == seen["cspb_idempotencykey"]


def test_a_crash_before_the_post_posts_once_after_the_lease(world) -> None:
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], "crash-before")
    dv.update(EntitySet.LICENSE_CHANGE_LOGS, log_id, {"cspb_provisioningstatus": SENDING,
                                                      "cspb_senttoprovideron": datetime.now(UTC).isoformat(),
                                                      "cspb_idempotencykey": provisioning.idempotency_key_for(log_id)})
    with pytest.raises(RetriableError):  # the send might still be in flight on another worker
        provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]})
    assert not world["orders"]
    later = datetime.now(UTC) + order_once.send_lease() + timedelta(seconds=1)
    outcome = provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]}, now=later)
    assert outcome.status == "Provisioned" and not outcome.replayed and len(world["orders"]) == 1
    assert provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]}, now=later).status == "AlreadyDone"


def test_a_crash_after_the_commit_adopts_the_order_by_reference(world) -> None:
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], "crash-after")

    def die_after_commit(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed")  # the worker dies right after TD SYNNEX committed, before any write-back

    original = provisioning._ordered_status
    provisioning._ordered_status = die_after_commit  # type: ignore[assignment]
    try:
        with pytest.raises(SystemExit):
            provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]})
    finally:
        provisioning._ordered_status = original  # type: ignore[assignment]
    assert len(world["orders"]) == 1
    # Another change log of the same product and quantity in flight does not confuse the search.
    _new_order(dv, world["company"], "rival")
    later = datetime.now(UTC) + order_once.send_lease() + timedelta(seconds=1)
    outcome = provisioning.process_change(log_id, dv=dv, adapters={TD: world["td"]}, now=later)
    assert outcome.status == "Provisioned" and outcome.replayed and len(world["orders"]) == 1
    assert outcome.order_id == world["orders"][0]["name"].rsplit("/", 1)[-1]
