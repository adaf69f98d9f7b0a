"""Provisioning end to end: change log in Dataverse -> webhook -> inbox -> queue -> worker -> Partner
Center -> result written back. Duplicate deliveries, timeouts after the provider committed and a
crash before the write-back must never buy twice."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync import provisioning
from sync.provider_accounts import run_provider_account_sync
from sync.subscription_sync import run_subscription_sync

pytestmark = pytest.mark.integration

BASIC = ("CFQ7TTC0LH18", "0001", "CFQ7TTC0K59J")  # Microsoft 365 Business Basic in the sandbox catalog


def _world(dv, pc, *, mca: bool = True):
    company = next(iter(pc.list_companies()))
    dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: pc})
    run_subscription_sync(dv, {1: pc})
    account = dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": company.id},
                            select=["cspb_provideraccountid"])
    dv.update("cspb_provideraccounts", account["cspb_provideraccountid"], {"cspb_mcaattested": mca})
    return company, account["cspb_provideraccountid"]


def _new_subscription(dv, account_id: str) -> str:
    return dv.create("cspb_subscriptions", {
        "cspb_name": "Business Basic (rep)", "cspb_provider": 1, "cspb_productid": BASIC[0], "cspb_skuid": BASIC[1],
        "cspb_availabilityid": BASIC[2], "cspb_term": "P1Y", "cspb_billingfrequency": "P1M", "cspb_status": 5,
        "cspb_kind": 1, "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})


def _change(dv, sub_id: str, key: str, change_type: int, new_q: int, old_q: int | None = None) -> str:
    return dv.create("cspb_licensechangelogs", {
        "cspb_changekey": key, "cspb_name": key, "cspb_changetype": change_type, "cspb_oldquantity": old_q,
        "cspb_newquantity": new_q, "cspb_origin": 1, "cspb_provisioningstatus": 1, "cspb_requestedby": "rep@partner",
        "cspb_subscription@odata.bind": f"/cspb_subscriptions({sub_id})"})


def _log(dv, log_id: str) -> dict:
    return dv.get("cspb_licensechangelogs", log_id, select=["cspb_provisioningstatus", "cspb_error",
                                                           "cspb_idempotencykey", "cspb_providerorderid"])


def _drain(dv, pc):
    return drain(get_queue(PROVISIONING_QUEUE), lambda m: provisioning.handle_message(m.body, dv=dv, adapters={1: pc}))


def test_rep_change_goes_through_the_webhook_to_partner_center_and_back(dv, dv_server, sync_pc, sync_pc_server,
                                                                         webhook_endpoint) -> None:
    url, key = webhook_endpoint
    company, account_id = _world(dv, sync_pc)
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create", "Update"))
    checkouts_before = sync_pc_server.app.state.checkouts

    sub_id = _new_subscription(dv, account_id)
    new_log = _change(dv, sub_id, "rep-new-1", change_type=1, new_q=5)
    assert dv_server.app.wait_for_webhooks()
    _drain(dv, sync_pc)
    assert dv_server.app.wait_for_webhooks()
    _drain(dv, sync_pc)  # the Update deliveries our own write-back caused: all AlreadyDone
    log = _log(dv, new_log)
    assert log["cspb_provisioningstatus"] == 2 and log["cspb_providerorderid"]
    sub = dv.get("cspb_subscriptions", sub_id, select=["cspb_providersubscriptionid", "cspb_status", "cspb_quantity"])
    assert sub["cspb_providersubscriptionid"] and sub["cspb_status"] == 1 and sub["cspb_quantity"] == 5
    assert sync_pc_server.app.state.checkouts == checkouts_before + 1
    inbox = list(dv.list("cspb_inboxes", select=["cspb_status"]))
    assert inbox and all(r["cspb_status"] == 3 for r in inbox)

    # Seat reduction inside the 7-day window after purchase: allowed and sent as a PATCH.
    down = _change(dv, sub_id, "rep-down-1", change_type=3, new_q=3, old_q=5)
    assert dv_server.app.wait_for_webhooks()
    _drain(dv, sync_pc)
    assert _log(dv, down)["cspb_provisioningstatus"] == 2
    remote = sync_pc.get_subscription(sub["cspb_providersubscriptionid"], company_id=company.id)
    assert remote.quantity == 3
    assert sync_pc_server.app.state.checkouts == checkouts_before + 1


def test_reduction_after_the_window_is_refused_with_the_reason_and_never_sent(dv, sync_pc) -> None:
    company, _ = _world(dv, sync_pc)
    now = datetime.now(UTC)
    old = next(s for s in sync_pc.list_subscriptions(company.id)
               if s.status == "Active" and s.quantity > 1 and not s.product_id.startswith("DZH")
               and s.cancellation_allowed_until is not None and s.cancellation_allowed_until < now)
    row = dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": old.id}, select=["cspb_subscriptionid"])
    log_id = _change(dv, row["cspb_subscriptionid"], "rep-late-down", change_type=3, new_q=old.quantity - 1,
                     old_q=old.quantity)
    before = sync_pc.http.request_count
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Refused"
    log = _log(dv, log_id)
    assert log["cspb_provisioningstatus"] == 5 and "7 days" in log["cspb_error"]
    assert sync_pc.http.request_count == before
    assert sync_pc.get_subscription(old.id, company_id=company.id).quantity == old.quantity


def test_no_mca_blocks_a_new_order_with_a_clear_message(dv, sync_pc, sync_pc_server) -> None:
    _, account_id = _world(dv, sync_pc, mca=False)
    log_id = _change(dv, _new_subscription(dv, account_id), "rep-new-nomca", change_type=1, new_q=2)
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Refused" and "Microsoft Customer Agreement" in _log(dv, log_id)["cspb_error"]


def test_timeout_after_commit_and_crash_before_write_back_buy_once(dv, sync_pc, sync_pc_server) -> None:
    _, account_id = _world(dv, sync_pc)
    state = sync_pc_server.app.state
    before = state.checkouts
    sub_id = _new_subscription(dv, account_id)
    log_id = _change(dv, sub_id, "rep-new-faulty", change_type=1, new_q=4)

    # Partner Center does the checkout, then the answer is lost: the client times out and retries
    # with the same MS-RequestId, which replays the order instead of buying again.
    sync_pc_server.app.faults.set(timeout_after_commit=1, stall_seconds=1.5, path_contains="/checkout")
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    sync_pc_server.app.faults.clear()
    assert outcome.status == "Provisioned" and state.checkouts == before + 1

    # A worker that crashed after the provider accepted but before the write-back: the change log
    # is back to Awaiting with its key; the redelivery replays and still buys once.
    dv.update("cspb_licensechangelogs", log_id, {"cspb_provisioningstatus": 1})
    again = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert again.status == "Provisioned" and again.order_id == outcome.order_id
    assert state.checkouts == before + 1

    # A duplicate delivery of a finished change does nothing at all.
    calls = sync_pc.http.request_count
    assert provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc}).status == "AlreadyDone"
    assert sync_pc.http.request_count == calls


def test_second_azure_plan_is_refused(dv, sync_pc) -> None:
    from sandbox.partnercenter.catalog import AZURE_PLAN

    company, account_id = _world(dv, sync_pc)
    plans = [s for s in dv.list("cspb_subscriptions", select=["cspb_kind", "_cspb_provideraccount_value"])
             if s["cspb_kind"] == 2 and s["_cspb_provideraccount_value"] == account_id]
    if not plans:
        dv.create("cspb_subscriptions", {"cspb_name": "Azure plan", "cspb_kind": 2, "cspb_status": 1,
                                         "cspb_provider": 1, "cspb_providersubscriptionid": "existing-plan",
                                         "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    sub_id = dv.create("cspb_subscriptions", {
        "cspb_name": "Azure plan (rep)", "cspb_provider": 1, "cspb_productid": AZURE_PLAN[0], "cspb_skuid": AZURE_PLAN[1],
        "cspb_availabilityid": AZURE_PLAN[2], "cspb_term": "P1M", "cspb_billingfrequency": "P1M", "cspb_status": 5,
        "cspb_kind": 2, "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    log_id = _change(dv, sub_id, "rep-plan-2", change_type=1, new_q=1)
    outcome = provisioning.process_change(log_id, dv=dv, adapters={1: sync_pc})
    assert outcome.status == "Refused" and "already has an Azure plan" in outcome.message


def test_rep_edits_the_subscription_form_and_the_webhook_does_the_rest(dv, dv_server, sync_pc, sync_pc_server,
                                                                        webhook_endpoint) -> None:
    url, key = webhook_endpoint
    company, account_id = _world(dv, sync_pc)
    dv_server.app.register_webhook(url, key, ["cspb_subscription"], ("Update",))
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create",))
    now = datetime.now(UTC)
    remote = list(sync_pc.list_subscriptions(company.id))
    licenses = [s for s in remote if s.status == "Active" and not s.product_id.startswith("DZH")]
    late = next(s for s in licenses if s.cancellation_allowed_until and s.cancellation_allowed_until < now
                and s.quantity > 1)
    up = next(s for s in licenses if s.id != late.id)

    def row(sub):
        return dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": sub.id},
                             select=["cspb_subscriptionid", "cspb_quantity"])

    dv.update("cspb_subscriptions", row(up)["cspb_subscriptionid"], {"cspb_quantity": up.quantity + 2})
    dv.update("cspb_subscriptions", row(late)["cspb_subscriptionid"], {"cspb_quantity": late.quantity - 1})
    for _ in range(3):  # each hop (edit -> change log -> our write-backs) makes new deliveries
        assert dv_server.app.wait_for_webhooks()
        _drain(dv, sync_pc)
    assert sync_pc.get_subscription(up.id, company_id=company.id).quantity == up.quantity + 2
    assert row(up)["cspb_quantity"] == up.quantity + 2
    # The late reduction was refused, never sent, and the form shows the real seat count again.
    assert sync_pc.get_subscription(late.id, company_id=company.id).quantity == late.quantity
    assert row(late)["cspb_quantity"] == late.quantity
    refused = [r for r in dv.list("cspb_licensechangelogs", select=["cspb_provisioningstatus", "cspb_error",
                                                                    "cspb_origin"]) if r["cspb_origin"] == 1]
    assert sorted(r["cspb_provisioningstatus"] for r in refused) == [2, 5]


def test_agreement_created_in_dynamics_is_attested_through_the_webhook(dv, dv_server, sync_pc,
                                                                        webhook_endpoint) -> None:
    url, key = webhook_endpoint
    _, account_id = _world(dv, sync_pc, mca=False)
    dv_server.app.register_webhook(url, key, ["cspb_agreement"], ("Create",))
    agreement = dv.create("cspb_agreements", {
        "cspb_agreementkey": "mca-webhook", "cspb_name": "MCA", "cspb_firstname": "Eva", "cspb_lastname": "Rossi",
        "cspb_email": "eva@example.com", "cspb_provideraccount@odata.bind": f"/cspb_provideraccounts({account_id})"})
    assert dv_server.app.wait_for_webhooks()
    _drain(dv, sync_pc)
    assert dv.get("cspb_agreements", agreement, select=["cspb_status"])["cspb_status"] == 2
    assert dv.get("cspb_provideraccounts", account_id, select=["cspb_mcaattested"])["cspb_mcaattested"] is True


def test_sync_writes_do_not_come_back_as_rep_changes(dv, dv_server, sync_pc, webhook_endpoint) -> None:
    url, key = webhook_endpoint
    company, _ = _world(dv, sync_pc)
    dv_server.app.register_webhook(url, key, ["cspb_subscription"], ("Create", "Update"))
    dv_server.app.register_webhook(url, key, ["cspb_licensechangelog"], ("Create", "Update"))
    target = next(s for s in sync_pc.list_subscriptions(company.id)
                  if s.status == "Active" and not s.product_id.startswith("DZH"))
    sync_pc.change_quantity(target.id, target.quantity + 4, "portal-edit", company_id=company.id)
    run_subscription_sync(dv, {1: sync_pc})
    calls = sync_pc.http.request_count
    for _ in range(2):
        assert dv_server.app.wait_for_webhooks()
        _drain(dv, sync_pc)
    reps = [r for r in dv.list("cspb_licensechangelogs", select=["cspb_origin"]) if r["cspb_origin"] == 1]
    assert reps == [] and sync_pc.http.request_count == calls
