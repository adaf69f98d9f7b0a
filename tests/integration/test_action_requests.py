"""A command on a Dynamics form writes a cspb_actionrequest row; its Create reaches our webhook function
through the Dataverse sandbox's registered step, the worker does the work, and the answer lands on the row."""

from __future__ import annotations

import json

import pytest

from jobs import worker
from shared.queue import PROVISIONING_QUEUE, drain, get_queue
from sync.provider_accounts import run_provider_account_sync

pytestmark = pytest.mark.integration


def _request(dv, action: int, table: str, target: str, key: str) -> str:
    return dv.create("cspb_actionrequests", {"cspb_name": key, "cspb_requestkey": key, "cspb_action": action,
                                              "cspb_targettable": table, "cspb_targetid": target,
                                              "cspb_parameters": "{}", "cspb_status": 1})


def test_a_request_row_reaches_the_function_and_comes_back_with_a_result(dv, dv_server, sync_pc, webhook_endpoint):
    url, key = webhook_endpoint
    dv_server.app.register_webhook(url, key, ["cspb_actionrequest"], ("Create",))
    company = next(iter(sync_pc.list_companies()))
    dv.create("accounts", {"name": company.name, "cspb_domain": company.domain})
    run_provider_account_sync(dv, {1: sync_pc})
    log_id = dv.create("cspb_licensechangelogs", {"cspb_changekey": "act-1", "cspb_name": "act-1",
                                                  "cspb_changetype": 2, "cspb_newquantity": 3,
                                                  "cspb_provisioningstatus": 1, "cspb_origin": 1})

    # Retry on a change log that has not failed: refused, with the reason on the row.
    refused = _request(dv, 2, "cspb_licensechangelog", log_id, "k-1")
    assert dv_server.app.wait_for_webhooks()
    drain(get_queue(PROVISIONING_QUEUE), lambda m: worker.handle(m.body, dv=dv, adapters={1: sync_pc}))
    row = dv.get("cspb_actionrequests", refused, select=["cspb_status", "cspb_result", "cspb_completedon"])
    assert row["cspb_status"] == 3 and row["cspb_completedon"]
    assert json.loads(row["cspb_result"])["message"] == "only a failed change log can be retried"

    # A failed one is retried through the real worker (it fails again: the log has no subscription).
    dv.update("cspb_licensechangelogs", log_id, {"cspb_provisioningstatus": 3, "cspb_error": "earlier failure"})
    retried = _request(dv, 2, "cspb_licensechangelog", log_id, "k-2")
    assert dv_server.app.wait_for_webhooks()
    drain(get_queue(PROVISIONING_QUEUE), lambda m: worker.handle(m.body, dv=dv, adapters={1: sync_pc}))
    row = dv.get("cspb_actionrequests", retried, select=["cspb_status", "cspb_result"])
    assert row["cspb_status"] == 2 and "no subscription" in json.loads(row["cspb_result"])["message"]

    # Attest MCA on an account with no agreement says what to do.
    account = dv.create("accounts", {"name": "No Agreement Ltd"})
    attest = _request(dv, 4, "account", account, "k-3")
    assert dv_server.app.wait_for_webhooks()
    drain(get_queue(PROVISIONING_QUEUE), lambda m: worker.handle(m.body, dv=dv, adapters={1: sync_pc}))
    row = dv.get("cspb_actionrequests", attest, select=["cspb_status", "cspb_result"])
    assert row["cspb_status"] == 3 and "no Customer Agreement" in json.loads(row["cspb_result"])["message"]
