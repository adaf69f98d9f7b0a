"""`solution.connect` against the Dataverse sandbox: the solution's endpoint and steps make the sandbox
post RemoteExecutionContext bodies that dataverse.webhook parses."""

from __future__ import annotations

import threading

import pytest
from werkzeug.wrappers import Request, Response

from dataverse.tables import EntitySet, SubscriptionStatus
from dataverse.webhook import event_key, parse_event
from sandbox._server import RunningServer
from solution.components import ENDPOINT_ID, STEPS
from solution.connect import connect, webhook_url

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict, bytes]] = []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.calls.append((request.path, dict(request.args), request.get_data()))
        return Response("", status=202)(environ, start_response)


@pytest.fixture
def receiver():
    app = Receiver()
    with RunningServer(app) as server:
        app.base = server.url
        yield app


def test_webhook_url():
    assert webhook_url("https://app.azurewebsites.net/") == "https://app.azurewebsites.net/api/webhooks/dataverse"
    assert webhook_url("http://127.0.0.1:7071/custom/hook") == "http://127.0.0.1:7071/custom/hook"
    with pytest.raises(ValueError):
        webhook_url("app.azurewebsites.net")


def test_connect_registers_the_solution_steps_and_events_parse(dv, dv_server, receiver):
    first = connect(dv, receiver.base, "k3y-for-tests")
    assert (first.endpoint_id, first.endpoint_created, first.steps_created) == (ENDPOINT_ID, True, len(STEPS))
    again = connect(dv, receiver.base, "k3y-for-tests")
    assert (again.endpoint_created, again.steps_created, again.steps_present) == (False, 0, len(STEPS))

    sub_id = dv.create(EntitySet.SUBSCRIPTIONS, {
        "cspb_name": "Microsoft 365 E3", "cspb_providersubscriptionid": "sub-connect-1", "cspb_quantity": 5,
        "cspb_status": int(SubscriptionStatus.ACTIVE), "cspb_unitprice": "31.25"})
    assert dv_server.app.wait_for_webhooks()
    dv.update(EntitySet.SUBSCRIPTIONS, sub_id, {"cspb_quantity": 7})
    dv.update(EntitySet.SUBSCRIPTIONS, sub_id, {"cspb_driftdetail": "not a filtered column"})
    dv.create(EntitySet.INBOXES, {"cspb_name": "no step on this table", "cspb_eventkey": "k-1"})
    assert dv_server.app.wait_for_webhooks()

    assert [path for path, _args, _body in receiver.calls] == ["/api/webhooks/dataverse"] * 2
    assert all(args == {"code": "k3y-for-tests"} for _path, args, _body in receiver.calls)
    created, updated = (parse_event(body) for _path, _args, body in receiver.calls)
    assert (created.message_name, created.primary_entity_name, created.primary_entity_id) == (
        "Create", "cspb_subscription", sub_id)
    assert str(created.value("cspb_unitprice")) == "31.25"
    assert updated.message_name == "Update" and updated.target.attributes["cspb_quantity"] == 7
    assert event_key(created) != event_key(updated)
