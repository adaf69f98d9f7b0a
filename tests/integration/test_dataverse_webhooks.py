"""The sandbox posts RemoteExecutionContext bodies to registered webhooks after writes commit."""

from __future__ import annotations

import json
import threading

import pytest
from werkzeug.wrappers import Request, Response

from dataverse import odata
from dataverse.batch import BatchRequest
from sandbox._server import RunningServer
from sandbox.dataverse.schema import MESSAGE_IDS
from shared.errors import ValidationError

pytestmark = pytest.mark.integration


class Receiver:
    def __init__(self, status: int = 202) -> None:
        self.calls: list[tuple[dict, dict]] = []
        self.queries: list[dict] = []
        self.status = status
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        request = Request(environ)
        with self._lock:
            self.calls.append((dict(request.headers), json.loads(request.get_data())))
            self.queries.append(dict(request.args))
        return Response("", status=self.status)(environ, start_response)


@pytest.fixture
def receiver():
    app = Receiver()
    with RunningServer(app) as server:
        app.url = server.url + "/api/dataverse_webhook"
        yield app


def test_create_and_update_fire_with_the_key_header(dv, dv_server, receiver):
    dv_server.app.register_webhook(receiver.url, "s3cret-key", ["cspb_subscription"], ["Create", "Update"])
    sub = dv.upsert("cspb_subscriptions", {"cspb_providersubscriptionid": "S1"},
                    {"cspb_quantity": 5, "cspb_status": 1, "cspb_unitprice": 12.5})
    dv.update("cspb_subscriptions", sub.id, {"cspb_quantity": 6})
    dv.create("accounts", {"name": "not watched"})
    assert dv_server.app.wait_for_webhooks()

    assert [c[1]["MessageName"] for c in receiver.calls] == ["Create", "Update"]
    headers, created = receiver.calls[0]
    assert headers["X-Functions-Key"] == "s3cret-key"
    assert created["PrimaryEntityName"] == "cspb_subscription" and created["PrimaryEntityId"] == sub.id
    target = created["InputParameters"][0]
    assert target["key"] == "Target"
    assert target["value"]["__type"].startswith("Entity:") and target["value"]["LogicalName"] == "cspb_subscription"
    attrs = {a["key"]: a["value"] for a in target["value"]["Attributes"]}
    assert attrs["cspb_quantity"] == 5
    assert attrs["cspb_unitprice"] == {"__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 12.5}
    assert attrs["cspb_status"]["__type"].startswith("OptionSetValue:") and attrs["cspb_status"]["Value"] == 1
    for field in ("RequestId", "CorrelationId", "OperationId", "UserId", "OrganizationName"):
        assert created[field]

    _, updated = receiver.calls[1]
    changed = {a["key"] for a in updated["InputParameters"][0]["value"]["Attributes"]}
    assert "cspb_quantity" in changed and "cspb_status" not in changed
    pre = {a["key"]: a["value"] for a in updated["PreEntityImages"][0]["value"]["Attributes"]}
    post = {a["key"]: a["value"] for a in updated["PostEntityImages"][0]["value"]["Attributes"]}
    assert (pre["cspb_quantity"], post["cspb_quantity"]) == (5, 6)
    assert all(d.status == 202 for d in dv_server.app.webhook_deliveries)


def test_lookups_arrive_as_entity_references_and_delete_fires(dv, dv_server, receiver):
    dv_server.app.register_webhook(receiver.url, "k", ["cspb_provideraccount"], ["Create", "Delete"])
    account_id = dv.create("accounts", {"name": "A"})
    pa = dv.create("cspb_provideraccounts", {"cspb_externalid": "t1", "cspb_provider": 1,
                                             "cspb_account@odata.bind": odata.bind("accounts", account_id)})
    dv.delete("cspb_provideraccounts", pa)
    assert dv_server.app.wait_for_webhooks()
    created, deleted = (c[1] for c in receiver.calls)
    ref = {a["key"]: a["value"] for a in created["InputParameters"][0]["value"]["Attributes"]}["cspb_account"]
    assert ref["__type"].startswith("EntityReference:") and ref["Id"] == account_id and ref["LogicalName"] == "account"
    assert deleted["MessageName"] == "Delete"
    assert deleted["InputParameters"][0]["value"]["__type"].startswith("EntityReference:")


def test_rolled_back_changeset_fires_nothing(dv, dv_server, receiver):
    dv_server.app.register_webhook(receiver.url, "k", ["account"], ["Create"])
    with pytest.raises(ValidationError):
        dv.batch([BatchRequest("POST", "accounts", {"name": "a"}), BatchRequest("POST", "accounts", {"bad": 1})])
    dv.create("accounts", {"name": "kept"})
    assert dv_server.app.wait_for_webhooks()
    assert len(receiver.calls) == 1
    attrs = {a["key"]: a["value"] for a in receiver.calls[0][1]["InputParameters"][0]["value"]["Attributes"]}
    assert attrs["name"] == "kept"


def test_registration_through_the_web_api(dv, dv_server, receiver):
    endpoint = dv.create("serviceendpoints", {
        "name": "cspbridge", "url": receiver.url, "contract": 8, "authtype": 5,
        "authvalue": '<settings><setting name="x-functions-key" value="abc" /></settings>'})
    create_id = next(dv.list("sdkmessages", filter="name eq 'Create'"))["sdkmessageid"]
    filt = next(dv.list("sdkmessagefilters",
                        filter=f"primaryobjecttypecode eq 'cspb_licensechangelog' and _sdkmessageid_value eq {create_id}"))
    dv.create("sdkmessageprocessingsteps", {
        "name": "changelog create", "stage": 40, "mode": 1, "rank": 1,
        "eventhandler_serviceendpoint@odata.bind": odata.bind("serviceendpoints", endpoint),
        "sdkmessageid@odata.bind": odata.bind("sdkmessages", create_id),
        "sdkmessagefilterid@odata.bind": odata.bind("sdkmessagefilters", filt["sdkmessagefilterid"])})
    dv.create("cspb_licensechangelogs", {"cspb_changekey": "C1", "cspb_newquantity": 3})
    assert dv_server.app.wait_for_webhooks()
    assert len(receiver.calls) == 1
    assert receiver.calls[0][0]["X-Functions-Key"] == "abc"
    assert receiver.calls[0][1]["PrimaryEntityName"] == "cspb_licensechangelog"


def test_webhookkey_endpoint_sends_the_key_as_code(dv, dv_server, receiver):
    endpoint = dv.create("serviceendpoints", {"name": "k", "url": receiver.url, "contract": 8, "authtype": 4,
                                              "authvalue": "fn-key"})
    api = dv_server.app.api
    fid = next(dv.list("sdkmessagefilters", filter=f"primaryobjecttypecode eq 'account' and "
                                                    f"_sdkmessageid_value eq {MESSAGE_IDS['Create']}"))
    dv.create("sdkmessageprocessingsteps", {
        "name": "s", "stage": 40, "mode": 1,
        "eventhandler_serviceendpoint@odata.bind": odata.bind("serviceendpoints", endpoint),
        "sdkmessageid@odata.bind": odata.bind("sdkmessages", MESSAGE_IDS["Create"]),
        "sdkmessagefilterid@odata.bind": odata.bind("sdkmessagefilters", fid["sdkmessagefilterid"])})
    dv.create("accounts", {"name": "x"})
    assert api.webhooks.wait()
    assert receiver.queries == [{"code": "fn-key"}]
    assert [d.url for d in dv_server.app.webhook_deliveries] == [receiver.url]  # the key is not kept in the log
