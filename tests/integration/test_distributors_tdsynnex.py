"""TD SYNNEX StreamOne Ion end to end: the adapter against its sandbox (rotating refresh token, both
paging styles, error shapes), and change logs from Dynamics provisioned through the same
exactly-once seam as Pax8 (sync/order_once.py), found again by the reference we put on every order."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dataverse.tables import EntitySet, Provider, SubscriptionStatus
from distributors import tdsynnex as tdsynnex_module
from distributors.tdsynnex_auth import RefreshTokenLost, TdSynnexTokens
from shared.errors import AuthError, RetriableError, ValidationError
from sync import order_once, provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.records import bind

pytestmark = pytest.mark.integration

SENDING, PROVISIONED, FAILED, NEEDS_REVIEW, MANUAL = 6, 2, 3, 7, 8
LOG_COLUMNS = ["cspb_provisioningstatus", "cspb_providerorderid", "cspb_error", "cspb_idempotencykey"]
TD = int(Provider.TDSYNNEX)


def _state(server: Any) -> dict[str, Any]:
    return server.app.sandbox.state


# -- the adapter ----------------------------------------------------------------------------------
def test_reads_customers_products_and_subscriptions_across_both_paging_styles(tdsynnex, tdsynnex_server,
                                                                               monkeypatch):
    monkeypatch.setattr(tdsynnex_module, "PAGE_SIZE", 1)  # one item a page: every page boundary is crossed
    companies = list(tdsynnex.list_companies())
    assert [c.id for c in companies] == ["49957", "49958"] and companies[1].domain == "litware.example"
    products = list(tdsynnex.list_products())
    assert {p.id for p in products} == {"CFQ7TTC0LH18:0001", "CFQ7TTC0LCHC:0002"}
    for n in range(3):
        tdsynnex.place_order("49958", "CFQ7TTC0LH18:0001", n + 1, "P1M", "P1Y", f"ref-{n}")
    subs = list(tdsynnex.list_subscriptions())  # pagination.limit/offset -> paginationResponse.totalSize
    assert len(subs) == 4 and [s.quantity for s in subs] == [12, 1, 2, 3]
    assert subs[1].billing_term == "P1M" and subs[1].commitment_term == "P1Y" and subs[1].status == "Active"
    assert str(subs[1].unit_cost) == "6.0" and subs[1].company_id == "49958"
    prices = tdsynnex.list_prices("CFQ7TTC0LH18:0001")
    assert {(p.commitment_term, p.billing_term, str(p.unit_cost)) for p in prices} == {
        ("P1Y", "P1M", "6.0"), ("P1Y", "P1Y", "72.0"), ("P1M", "P1M", "7.2")}
    # The token-paged style of the same list, as one client uses it.
    first = tdsynnex.http.get_json("subscriptions", params={"pageSize": 3})
    assert len(first["items"]) == 3 and first["nextPageToken"]


def test_error_shapes_are_decoded_with_their_codes(tdsynnex):
    with pytest.raises(ValidationError) as missing_domain:  # Adatum has no Microsoft tenant yet
        tdsynnex.place_order("49957", "CFQ7TTC0LH18:0001", 1, "P1M", "P1Y", "ref-x")
    assert missing_domain.value.code == "COMM-VL-004" and "domainName" in missing_domain.value.message
    body = {"orderItems": [{"action": "CREATE", "productId": "Microsoft365BusinessBasicNCE-demonce",
                            "skuId": "BB-0001", "planId": "Annual-M-CFQ7TTC0LH18-0001", "quantity": 1,
                            "attributes": []}]}
    with pytest.raises(ValidationError) as no_renewal:
        tdsynnex.http.request("POST", "customers/49958/orders", json=body)
    assert no_renewal.value.code == "MSFT_CR_033"
    with pytest.raises(ValidationError, match="no SKU matching"):
        tdsynnex.place_order("49958", "NOPE:0001", 1, "P1M", "P1Y", "ref-y")


def test_the_refresh_token_rotates_and_is_stored_before_use(tdsynnex, tdsynnex_server, tmp_path):
    tokens = tdsynnex.http.token_provider
    list(tdsynnex.list_companies())
    stored = tokens.store.get(tokens.secret_name).reveal()
    assert stored == _state(tdsynnex_server)["refreshToken"] and stored != tokens._seed
    # Another process (a new provider on the same store) picks up the rotated token, not the spent seed.
    again = TdSynnexTokens(tokens.token_url, tokens.store, tokens.secret_name, seed=tokens._seed, timeout=2)
    assert again() and tokens.store.get(tokens.secret_name).reveal() == _state(tdsynnex_server)["refreshToken"]


def test_one_writer_refreshes_once_for_many_threads(tdsynnex, tdsynnex_server):
    errors: list[BaseException] = []

    def read() -> None:
        try:
            list(tdsynnex.list_companies())
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and tdsynnex_server.app.sandbox.token_requests == 1


def test_a_lost_token_answer_is_reported_plainly(tdsynnex, tdsynnex_server):
    tokens = tdsynnex.http.token_provider
    tdsynnex_server.app.faults.set(timeout_after_commit=1, stall_seconds=3, path_contains="/oauth/token")
    with pytest.raises(RefreshTokenLost) as lost:
        tokens()
    assert "rotates on every use" in lost.value.message and "Request New Credentials" in lost.value.message
    assert isinstance(lost.value, RetriableError)
    tdsynnex_server.app.faults.clear()
    # The server had rotated it: the stored token is spent, and the refusal names the lost answer and the fix.
    with pytest.raises(AuthError) as refused:
        list(tdsynnex.list_companies())
    text = refused.value.message
    assert "earlier token answer was lost" in text and "CSPB_TDSYNNEX_REFRESH_TOKEN" in text
    assert _state(tdsynnex_server)["refreshToken"] not in text  # no secret in the message
    # A newly minted token put in the setting (the seed) reconnects.
    minted = _state(tdsynnex_server)["refreshToken"]
    fresh = TdSynnexTokens(tokens.token_url, tokens.store, tokens.secret_name, seed=minted, timeout=2)
    assert fresh() and not tokens.store.get(tokens.secret_name + "-lost").reveal()


def test_a_lost_token_answer_that_never_arrived_is_retried_with_the_same_token(tdsynnex, tdsynnex_server):
    tdsynnex_server.app.faults.set(fail_every=1, path_contains="/oauth/token")
    with pytest.raises(RetriableError):
        list(tdsynnex.list_companies())
    tdsynnex_server.app.faults.clear()
    assert len(list(tdsynnex.list_companies())) == 2


# -- from Dynamics through change logs ------------------------------------------------------------
@pytest.fixture
def world(dv, tdsynnex, tdsynnex_server, monkeypatch):
    monkeypatch.setenv("CSPB_HTTP_TIMEOUT_SECONDS", "2")
    from shared.config import reset_settings

    reset_settings()
    dv.create(EntitySet.ACCOUNTS, {"name": "Litware Inc", "cspb_domain": "litware.example"})
    run_provider_account_sync(dv, {TD: tdsynnex})
    rows = dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid", "cspb_externalid",
                                                        "_cspb_account_value", "cspb_domain"],
                   filter=f"cspb_provider eq {TD}")
    company = next(r for r in rows if r["cspb_externalid"] == "49958")
    assert company["_cspb_account_value"], "the TD SYNNEX customer maps to the CRM account by its domain"
    return {"dv": dv, "td": tdsynnex, "company": company, "orders": _state(tdsynnex_server)["orders"],
            "subs": _state(tdsynnex_server)["subscriptions"], "faults": tdsynnex_server.app.faults,
            "adapters": {TD: tdsynnex}, "sandbox": tdsynnex_server.app.sandbox}


def _new_order(dv: Any, company: dict[str, Any], quantity: int, name: str) -> str:
    sub = dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": f"{name} via TD SYNNEX", "cspb_provider": TD,
        "cspb_provideraccount@odata.bind": bind(EntitySet.PROVIDER_ACCOUNTS, company["cspb_provideraccountid"]),
        "cspb_productid": "CFQ7TTC0LH18", "cspb_skuid": "0001", "cspb_quantity": 0, "cspb_term": "P1Y",
        "cspb_billingfrequency": "P1M", "cspb_status": int(SubscriptionStatus.PENDING),
        "cspb_providersubscriptionid": f"pending-{uuid.uuid4()}"})
    return _change(dv, sub, 1, 0, quantity, name)


def _change(dv: Any, sub_id: str, change_type: int, old: int, new: int, name: str) -> str:
    return dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": f"test|{name}", "cspb_name": name, "cspb_changetype": change_type,
        "cspb_oldquantity": old, "cspb_newquantity": new, "cspb_origin": 1, "cspb_provisioningstatus": 1,
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub_id)})


def _run(world: dict[str, Any], log_id: str, now: datetime | None = None) -> provisioning.Outcome:
    return provisioning.process_change(log_id, dv=world["dv"], adapters=world["adapters"], now=now)


def _later() -> datetime:
    return datetime.now(UTC) + order_once.send_lease() + timedelta(seconds=1)


def _sub_of(dv: Any, log_id: str) -> dict[str, Any]:
    sub_id = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=["_cspb_subscription_value"])[
        "_cspb_subscription_value"]
    return dv.get(EntitySet.SUBSCRIPTIONS, sub_id, select=["cspb_subscriptionid", "cspb_providersubscriptionid",
                                                           "cspb_quantity", "cspb_status", "cspb_orderid"])


def test_new_seat_change_and_cancel_from_dynamics(world):
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 3, "e2e")
    outcome = _run(world, log_id)
    assert outcome.status == "Provisioned" and len(world["orders"]) == 1
    order = world["orders"][0]
    key = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS)["cspb_idempotencykey"]
    assert order["referenceId"] == key and order["orderItems"][0]["action"] == "CREATE"
    assert {"name": "renewalSetting", "value": "auto-on"} in order["orderItems"][0]["attributes"]
    sub = _sub_of(dv, log_id)
    ms_id = order["orderItems"][0]["resourceId"]
    assert sub["cspb_providersubscriptionid"] == ms_id and sub["cspb_status"] == int(SubscriptionStatus.ACTIVE)
    # Seat change: an UPDATE order with the new total.
    change = _change(dv, sub["cspb_subscriptionid"], 2, 3, 5, "e2e-seats")
    assert _run(world, change).status == "Provisioned"
    provider_sub = next(s for s in world["subs"] if s["subscriptionId"] == ms_id)
    assert provider_sub["subscriptionTotalLicenses"] == "5" and world["orders"][-1]["orderItems"][0]["action"] == \
        "UPDATE"
    assert _sub_of(dv, log_id)["cspb_quantity"] == 5
    # Cancel: not documented, so nothing is sent and the change log says what to do by hand.
    cancel = _change(dv, sub["cspb_subscriptionid"], 5, 5, 0, "e2e-cancel")
    posts = world["sandbox"].order_posts
    outcome = _run(world, cancel)
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, cancel, select=LOG_COLUMNS)
    assert outcome.status == "ManualAction" and row["cspb_provisioningstatus"] == MANUAL
    assert "StreamOne Ion" in row["cspb_error"] and ms_id in row["cspb_error"]
    assert world["sandbox"].order_posts == posts and provider_sub["subscriptionStatus"] == "active"


def test_cancel_is_sent_when_the_capability_is_configured(world):
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 2, "cancel-on")
    assert _run(world, log_id).status == "Provisioned"
    world["sandbox"].cancel_attribute = ("status", "cancelled")
    adapter = tdsynnex_module.TdSynnexAdapter(world["td"].http.base_url.split("/api/v3")[0], "5212",
                                              world["td"].http.token_provider, timeout=2,
                                              cancel_attribute="status=cancelled")
    assert adapter.can_cancel and not world["td"].can_cancel
    sub = _sub_of(dv, log_id)
    cancel = _change(dv, sub["cspb_subscriptionid"], 5, 2, 0, "cancel-on-x")
    outcome = provisioning.process_change(cancel, dv=dv, adapters={TD: adapter})
    assert outcome.status == "Provisioned"
    assert _sub_of(dv, log_id)["cspb_status"] == int(SubscriptionStatus.CANCELLED)
    assert next(s for s in world["subs"] if s["subscriptionId"] == sub["cspb_providersubscriptionid"])[
        "subscriptionStatus"] == "deleted"


def test_a_new_tenant_without_a_domain_fails_with_the_providers_reason(world, dv, tdsynnex):
    dv.create(EntitySet.ACCOUNTS, {"name": "Adatum Corp", "cspb_domain": "adatum.example"})
    run_provider_account_sync(dv, {TD: tdsynnex})
    adatum = next(r for r in dv.list(EntitySet.PROVIDER_ACCOUNTS, select=["cspb_provideraccountid",
                                                                          "cspb_externalid"],
                                     filter=f"cspb_provider eq {TD}") if r["cspb_externalid"] == "49957")
    log_id = _new_order(dv, adatum, 1, "no-domain")
    outcome = _run(world, log_id)
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, log_id, select=LOG_COLUMNS)
    assert outcome.status == "Failed" and row["cspb_provisioningstatus"] == FAILED
    assert "COMM-VL-004" in row["cspb_error"] and not world["orders"]


def test_a_lost_order_response_is_found_by_our_reference_in_the_same_attempt(world):
    log_id = _new_order(world["dv"], world["company"], 4, "lost")
    world["faults"].set(timeout_after_commit=1, stall_seconds=3, path_contains="/orders", method="POST")
    outcome = _run(world, log_id)
    assert outcome.status == "Provisioned" and outcome.replayed and len(world["orders"]) == 1
    assert _sub_of(world["dv"], log_id)["cspb_providersubscriptionid"] == world["orders"][0]["orderItems"][0][
        "resourceId"]


def test_twin_orders_in_flight_are_told_apart_by_reference(world):
    """Two change logs of the same customer, product and quantity, both mid-send: Pax8 would need a
    person (NeedsReview); TD SYNNEX keeps our reference, so each finds its own."""
    dv = world["dv"]
    one, two = _new_order(dv, world["company"], 7, "twin-1"), _new_order(dv, world["company"], 7, "twin-2")
    sent = datetime.now(UTC)
    for log_id in (one, two):
        dv.update(EntitySet.LICENSE_CHANGE_LOGS, log_id, {
            "cspb_provisioningstatus": SENDING, "cspb_senttoprovideron": sent.isoformat(),
            "cspb_idempotencykey": provisioning.idempotency_key_for(log_id)})
    # Only the second's POST reached TD SYNNEX before the worker died.
    world["td"].place_order("49958", "CFQ7TTC0LH18:0001", 7, "P1M", "P1Y", provisioning.idempotency_key_for(two))
    first, second = _run(world, one, now=_later()), _run(world, two, now=_later())
    assert first.status == "Provisioned" and not first.replayed
    assert second.status == "Provisioned" and second.replayed
    assert len(world["orders"]) == 2
    assert {o["referenceId"] for o in world["orders"]} == {provisioning.idempotency_key_for(x) for x in (one, two)}


def test_subscription_sync_reads_tdsynnex_into_dynamics(world):
    from sync.subscription_sync import run_subscription_sync

    dv = world["dv"]
    run_subscription_sync(dv, {TD: world["td"]})
    rows = list(dv.list(EntitySet.SUBSCRIPTIONS, select=["cspb_providersubscriptionid", "cspb_quantity",
                                                         "cspb_term", "cspb_billingfrequency", "cspb_status",
                                                         "cspb_autorenew"],
                        filter=f"cspb_provider eq {TD}"))
    seeded = next(r for r in rows if r["cspb_providersubscriptionid"] == world["subs"][0]["subscriptionId"])
    assert seeded["cspb_quantity"] == 12 and seeded["cspb_term"] == "P1Y" and seeded["cspb_billingfrequency"] == "P1M"
    assert seeded["cspb_status"] == int(SubscriptionStatus.ACTIVE)


def test_a_term_change_tdsynnex_cannot_take_ends_as_manual_action_with_the_steps(world):
    """TD SYNNEX offers no transitions through its API: a Term Change from Dynamics sends nothing and
    ends Manual Action Required, naming the customer, the subscription, the target and the portal."""
    dv = world["dv"]
    log_id = _new_order(dv, world["company"], 3, "to-annual")
    assert _run(world, log_id).status == "Provisioned"
    sub = _sub_of(dv, log_id)
    change = dv.create(EntitySet.LICENSE_CHANGE_LOGS, {
        "cspb_changekey": "test|term", "cspb_name": "term", "cspb_changetype": 8, "cspb_oldquantity": 3,
        "cspb_newquantity": 3, "cspb_origin": 1, "cspb_provisioningstatus": 1, "cspb_targetterm": "P1Y",
        "cspb_targetbillingfrequency": "P1Y",
        "cspb_subscription@odata.bind": bind(EntitySet.SUBSCRIPTIONS, sub["cspb_subscriptionid"])})
    posts = world["sandbox"].order_posts
    outcome = _run(world, change)
    row = dv.get(EntitySet.LICENSE_CHANGE_LOGS, change, select=LOG_COLUMNS)
    assert outcome.status == "ManualAction" and row["cspb_provisioningstatus"] == MANUAL
    assert "StreamOne Ion" in row["cspb_error"] and sub["cspb_providersubscriptionid"] in row["cspb_error"]
    assert "49958" in row["cspb_error"] and "P1Y" in row["cspb_error"]
    assert world["sandbox"].order_posts == posts
