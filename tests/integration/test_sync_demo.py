"""The demo flow: accounts, subscriptions, the catalog they use, and a seat change through the webhook."""

from __future__ import annotations

import pytest

from cli.demo_sync import run_demo_flow

pytestmark = pytest.mark.integration


def test_demo_flow_end_to_end(dv, dv_server, sync_pc, webhook_endpoint) -> None:
    summary = run_demo_flow(dv, sync_pc, dv_app=dv_server.app)
    assert summary["catalog"]["status"] == "Succeeded" and summary["catalog"]["prices"] > 0
    assert summary["subscriptions"]["status"] == "Succeeded"
    change = summary["seat_change"]
    assert change["via_webhook"] and change["messages"] == 1
    assert change["status"] == "Provisioned", change
    assert change["partner_center_quantity"] == change["to"]


def test_demo_unregisters_its_webhook_when_it_stops(dv, dv_server, sync_pc, webhook_endpoint) -> None:
    run_demo_flow(dv, sync_pc, dv_app=dv_server.app)
    assert list(dv.list("serviceendpoints", select=["serviceendpointid"])) == []
    assert list(dv.list("sdkmessageprocessingsteps", select=["sdkmessageprocessingstepid"])) == []
    # A change log written after the demo is posted nowhere.
    before = len(dv_server.app.webhook_deliveries)
    dv.create("cspb_licensechangelogs", {"cspb_changekey": "after-demo", "cspb_name": "after demo",
                                         "cspb_changetype": 2, "cspb_provisioningstatus": 1, "cspb_origin": 1})
    dv_server.app.wait_for_webhooks(timeout=1.0)
    assert len(dv_server.app.webhook_deliveries) == before
