"""Wire shapes of the Dataverse sandbox itself, seen with plain requests (what a non-Python caller sees)."""

from __future__ import annotations

import json

import pytest
import requests

from sandbox._server import RunningServer
from sandbox.dataverse.server import build_app

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer t", "Accept": "application/json"}


def api(server) -> str:
    return server.url + "/api/data/v9.2/"


def test_requires_a_bearer_token_and_answers_whoami(dv_server):
    assert requests.get(api(dv_server) + "accounts", timeout=5).status_code == 401
    who = requests.get(api(dv_server) + "WhoAmI", headers=AUTH, timeout=5)
    assert who.status_code == 200 and set(who.json()) >= {"UserId", "BusinessUnitId", "OrganizationId"}


def test_create_answers_204_with_entity_id_and_representation_on_request(dv_server):
    r = requests.post(api(dv_server) + "accounts", json={"name": "A"}, headers=AUTH, timeout=5)
    assert r.status_code == 204 and r.headers["OData-EntityId"].startswith(api(dv_server) + "accounts(")
    assert r.headers["x-ms-dop-hint"] == "4"
    r = requests.post(api(dv_server) + "accounts?$select=name", json={"name": "B"},
                      headers={**AUTH, "Prefer": "return=representation"}, timeout=5)
    body = r.json()
    assert r.status_code == 201 and body["name"] == "B" and body["@odata.etag"].startswith('W/"')
    assert set(body) == {"@odata.context", "@odata.etag", "name", "accountid"}


def test_paging_cookie_count_and_errors(dv_server):
    for n in range(7):
        requests.post(api(dv_server) + "accounts", json={"name": f"n{n}"}, headers=AUTH, timeout=5)
    r = requests.get(api(dv_server) + "accounts?$select=name&$count=true",
                     headers={**AUTH, "Prefer": "odata.maxpagesize=3"}, timeout=5)
    page = r.json()
    assert r.headers["Preference-Applied"] == "odata.maxpagesize=3"
    assert page["@odata.count"] == 7 and len(page["value"]) == 3 and "$skiptoken" in page["@odata.nextLink"]
    bad = requests.get(api(dv_server) + "accounts?$filter=name eq", headers=AUTH, timeout=5)
    assert bad.status_code == 400 and set(bad.json()["error"]) == {"code", "message"}


def test_create_multiple_returns_ids_and_checks_odata_type(dv_server):
    url = api(dv_server) + "cspb_syncruns/Microsoft.Dynamics.CRM.CreateMultiple"
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.cspb_syncrun", "cspb_runkey": f"r{n}"} for n in range(3)]
    r = requests.post(url, json={"Targets": targets}, headers=AUTH, timeout=5)
    assert r.status_code == 200 and len(r.json()["Ids"]) == 3
    r = requests.post(url, json={"Targets": [{"cspb_runkey": "x"}]}, headers=AUTH, timeout=5)
    assert r.status_code == 400 and "@odata.type" in r.json()["error"]["message"]


def test_lookup_must_be_bound_not_assigned(dv_server):
    r = requests.post(api(dv_server) + "contacts", json={"lastname": "x", "parentcustomerid": "abc"},
                      headers=AUTH, timeout=5)
    assert r.status_code == 400 and "@odata.bind" in r.json()["error"]["message"]


def test_rows_survive_a_restart(tmp_path):
    app = build_app(tmp_path)
    with RunningServer(app) as server:
        r = requests.post(api(server) + "accounts", data=json.dumps({"name": "kept", "cspb_portalenabled": True}),
                          headers={**AUTH, "Content-Type": "application/json"}, timeout=5)
        entity = r.headers["OData-EntityId"].split("/api/data/v9.2/")[1]
        etag = requests.get(api(server) + entity, headers=AUTH, timeout=5).json()["@odata.etag"]
    app.close()
    assert (tmp_path / "dataverse.sqlite3").exists()
    app = build_app(tmp_path)
    with RunningServer(app) as server:
        row = requests.get(api(server) + entity, headers=AUTH, timeout=5).json()
        assert row["name"] == "kept" and row["@odata.etag"] == etag
        r = requests.patch(api(server) + entity, json={"name": "changed"}, headers=AUTH, timeout=5)
        assert r.status_code == 204
        assert requests.get(api(server) + entity, headers=AUTH, timeout=5).json()["@odata.etag"] != etag
    app.close()
