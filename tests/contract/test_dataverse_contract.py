"""Microsoft's own Dataverse Python client (PyPI `powerplatform-dataverse-client`) against the Dataverse
sandbox, unmodified, over TLS: it reads EntityDefinitions metadata (derived from the solution), then
creates, gets, filters with paging, updates, upserts by alternate key and deletes. Plus Boolean
defaults and MSCRM.BypassBusinessLogicExecution, as Dataverse behaves.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

pytestmark = pytest.mark.integration


class _StaticCredential:
    """An azure-core TokenCredential; the sandbox accepts any bearer token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("sandbox-token", int(time.time()) + 3600)


@pytest.fixture
def dv_tls(tmp_path, monkeypatch):
    """The Dataverse sandbox on HTTPS with a throwaway certificate the test trusts via REQUESTS_CA_BUNDLE."""
    from sandbox._server import RunningServer
    from sandbox.dataverse.server import build_app
    from sandbox.tls import local_tls

    tls = local_tls(tmp_path / "tls")
    app = build_app(tmp_path / "dv")
    server = RunningServer(app, port=0, ssl_context=tls.server_context()).start()
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls.ca_file))
    try:
        yield server
    finally:
        server.stop()
        app.close()


@pytest.fixture
def ms_client(dv_tls):
    from PowerPlatform.Dataverse.client import DataverseClient

    with DataverseClient(dv_tls.url, _StaticCredential()) as client:
        yield client


def test_microsoft_client_round_trip(uses_sample, ms_client, dv_tls):
    from PowerPlatform.Dataverse.models.upsert import UpsertItem

    uses_sample("dataverse/powerplatform-dataverse-client round trip")
    table = "cspb_usagesummary"
    key = f"contract|{uuid.uuid4()}"
    created = ms_client.records.create(table, {"cspb_name": "Contract round trip", "cspb_summarykey": key,
                                               "cspb_period": "2026-10", "cspb_quantity": 3})
    row = ms_client.records.get(table, created, select=["cspb_name", "cspb_billed", "cspb_quantity"])
    assert row["cspb_name"] == "Contract round trip"
    assert row["cspb_billed"] is False  # the solution's default, never null

    ids = ms_client.records.create(table, [{"cspb_name": f"page {i}", "cspb_summarykey": f"{key}|{i}",
                                            "cspb_period": "2026-09"} for i in range(5)])
    assert len(ids) == 5
    pages = list(ms_client.records.get(table, filter="cspb_period eq '2026-09'", select=["cspb_name"], page_size=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sorted(r["cspb_name"] for p in pages for r in p) == [f"page {i}" for i in range(5)]

    ms_client.records.update(table, created, {"cspb_billed": True, "cspb_quantity": 4})
    again = ms_client.records.get(table, created, select=["cspb_billed", "cspb_quantity"])
    assert again["cspb_billed"] is True and float(again["cspb_quantity"]) == 4

    ms_client.records.upsert(table, [UpsertItem(alternate_key={"cspb_summarykey": key},
                                                record={"cspb_name": "Upserted"}),
                                     UpsertItem(alternate_key={"cspb_summarykey": f"{key}|new"},
                                                record={"cspb_name": "Upsert created", "cspb_period": "2026-08"})])
    assert ms_client.records.get(table, created, select=["cspb_name"])["cspb_name"] == "Upserted"
    fresh = list(ms_client.records.get(table, filter="cspb_period eq '2026-08'", select=["cspb_name", "cspb_billed"]))
    assert [(r["cspb_name"], r["cspb_billed"]) for p in [fresh[0]] for r in p] == [("Upsert created", False)]

    ms_client.records.delete(table, created)
    gone = requests.get(f"{dv_tls.url}/api/data/v9.2/cspb_usagesummaries({created})",
                        headers={"Authorization": "Bearer t"}, timeout=10)
    assert gone.status_code == 404


def test_entity_definitions_come_from_the_solution(uses_sample, dv_tls):
    from solution.schema import load_tables

    uses_sample("dataverse/EntityDefinitions metadata")
    base = f"{dv_tls.url}/api/data/v9.2/"
    headers = {"Authorization": "Bearer t"}
    tables = load_tables()
    for logical, table in tables.items():
        body = requests.get(base + "EntityDefinitions", headers=headers, timeout=10, params={
            "$select": "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute",
            "$filter": f"LogicalName eq '{logical}'"}).json()
        (meta,) = body["value"]
        assert (meta["EntitySetName"], meta["PrimaryIdAttribute"]) == (table.entity_set_name, table.primary_id)
        assert meta["PrimaryNameAttribute"] == (table.primary_name or None)
    attrs = requests.get(base + "EntityDefinitions(LogicalName='cspb_billingcontract')/Attributes",
                         headers=headers, timeout=10).json()["value"]
    types = {a["LogicalName"]: a["AttributeType"] for a in attrs}
    assert types["cspb_autocharge"] == "Boolean" and types["cspb_frequency"] == "Picklist"
    assert types["cspb_billingcontractid"] == "Uniqueidentifier" and types["statecode"] == "State"
    boolean = next(a for a in attrs if a["LogicalName"] == "cspb_autocharge")
    assert boolean["DefaultValue"] is False and boolean["@odata.type"].endswith("BooleanAttributeMetadata")
    picklists = requests.get(
        base + "EntityDefinitions(LogicalName='cspb_billingcontract')/Attributes/"
               "Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet($select=Options)",
        headers=headers, timeout=10).json()["value"]
    frequency = next(p for p in picklists if p["LogicalName"] == "cspb_frequency")
    assert {o["Value"] for o in frequency["OptionSet"]["Options"]} == {1, 3, 12, 36}
    assert requests.post(base + "EntityDefinitions", json={}, headers=headers, timeout=10).status_code == 405


def test_boolean_columns_take_their_default_on_create(uses_sample, dv):
    from dataverse.tables import EntitySet

    uses_sample("dataverse/Boolean defaults")
    created = dv.create(EntitySet.USAGE_SUMMARIES, {"cspb_name": "no flag", "cspb_summarykey": "k-default"})
    row = dv.get(EntitySet.USAGE_SUMMARIES, created, select=["cspb_billed"])
    assert row["cspb_billed"] is False
    rows = dv.list(EntitySet.USAGE_SUMMARIES, select=["cspb_summarykey"], filter="cspb_billed eq false")
    assert [r["cspb_summarykey"] for r in rows] == ["k-default"]


def test_bypass_business_logic_suppresses_webhook_steps(uses_sample, dv_server, tmp_path):
    """CustomAsync skips asynchronous steps (our webhooks), CustomSync synchronous ones; the legacy
    BypassCustomPluginExecution header skips synchronous steps only."""
    from sandbox._server import RunningServer

    uses_sample("dataverse/MSCRM.BypassBusinessLogicExecution")
    received: list[dict[str, Any]] = []

    def hook(environ, start_response):
        from werkzeug.wrappers import Request, Response

        received.append(Request(environ).get_json(silent=True) or {})
        return Response("", status=200)(environ, start_response)

    receiver = RunningServer(hook, port=0).start()
    try:
        dv_server.app.register_webhook(receiver.url + "/async", "k", ["cspb_usagesummary"], ("Create",))
        dv_server.app.register_webhook(receiver.url + "/sync", "k", ["cspb_usagesummary"], ("Create",), mode=0)
        base = f"{dv_server.url}/api/data/v9.2/cspb_usagesummaries"

        def create(key: str, headers: dict[str, str]) -> int:
            before = len(received)
            r = requests.post(base, json={"cspb_name": key, "cspb_summarykey": key},
                              headers={"Authorization": "Bearer t", **headers}, timeout=10)
            assert r.status_code == 204, r.text
            dv_server.app.wait_for_webhooks(5)
            return len(received) - before

        assert create("plain", {}) == 2
        assert create("async-off", {"MSCRM.BypassBusinessLogicExecution": "CustomAsync"}) == 1
        assert create("both-off", {"MSCRM.BypassBusinessLogicExecution": "CustomSync,CustomAsync"}) == 0
        assert create("legacy", {"MSCRM.BypassCustomPluginExecution": "true"}) == 1
        bad = requests.post(base, json={"cspb_name": "x", "cspb_summarykey": "x"}, timeout=10,
                            headers={"Authorization": "Bearer t", "MSCRM.BypassBusinessLogicExecution": "Everything"})
        assert bad.status_code == 400 and "CustomSync" in bad.text
    finally:
        receiver.stop()
