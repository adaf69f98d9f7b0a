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


def test_filter_through_a_lookup_and_expand_a_lookup(dv_server):
    """`nav/column` in $filter and `$expand=nav($select=...)` for single-valued navigation properties
    (the portal's one-round-trip pages use both); anything else is a 400, not a silent full read."""
    def create(entity_set, body):
        r = requests.post(api(dv_server) + entity_set, json=body, headers=AUTH, timeout=5)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    mine, theirs = create("accounts", {"name": "Mine"}), create("accounts", {"name": "Theirs"})
    contracts = {acc: create("cspb_billingcontracts", {"cspb_name": acc, "cspb_contractnumber": acc,
                                                       "cspb_account@odata.bind": f"/accounts({acc})"})
                 for acc in (mine, theirs)}
    for acc, contract in contracts.items():
        create("cspb_subscriptions", {"cspb_name": f"sub of {acc}", "cspb_providersubscriptionid": acc,
                                      "cspb_billingcontract@odata.bind": f"/cspb_billingcontracts({contract})"})
    create("cspb_subscriptions", {"cspb_name": "no contract", "cspb_providersubscriptionid": "none"})
    r = requests.get(api(dv_server) + "cspb_subscriptions", headers=AUTH, timeout=5, params={
        "$select": "cspb_name", "$filter": f"cspb_billingcontract/_cspb_account_value eq {mine}",
        "$expand": "cspb_billingcontract($select=cspb_contractnumber,_cspb_account_value)"})
    assert r.status_code == 200, r.text
    (row,) = r.json()["value"]
    assert row["cspb_name"] == f"sub of {mine}"
    assert row["cspb_billingcontract"]["cspb_contractnumber"] == mine
    assert row["cspb_billingcontract"]["_cspb_account_value"] == mine
    for bad in ({"$filter": "nosuchlookup/name eq 'x'"}, {"$filter": "cspb_billingcontract/nosuchcolumn eq 1"},
                {"$expand": "cspb_billingcontract($filter=statecode eq 0)"}, {"$expand": "nosuchlookup"}):
        assert requests.get(api(dv_server) + "cspb_subscriptions", headers=AUTH, params=bad,
                            timeout=5).status_code == 400, bad


def test_any_of_several_parents_filter_returns_exactly_their_children(dv_server):
    """`_x_value eq a or _x_value eq b` is prefiltered in SQLite (rows holding one of the GUIDs) and
    then matched exactly: a row that only mentions a GUID in another column is not returned."""
    def create(entity_set, body):
        r = requests.post(api(dv_server) + entity_set, json=body, headers=AUTH, timeout=5)
        assert r.status_code == 204, r.text
        return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

    a, b, c = (create("accounts", {"name": n}) for n in "abc")
    kids = {create("cspb_billingcontracts", {"cspb_name": f"k{n}", "cspb_contractnumber": f"K-{n}",
                                             "cspb_account@odata.bind": f"/accounts({parent})"}): parent
            for n, parent in enumerate((a, a, b, c))}
    create("cspb_billingcontracts", {"cspb_name": a, "cspb_contractnumber": "mentions-a",
                                     "cspb_account@odata.bind": f"/accounts({c})"})
    r = requests.get(api(dv_server) + "cspb_billingcontracts", headers=AUTH, timeout=5, params={
        "$select": "cspb_name", "$filter": f"(_cspb_account_value eq {a.upper()} or _cspb_account_value eq {b})"})
    assert r.status_code == 200, r.text
    assert {row["cspb_billingcontractid"] for row in r.json()["value"]} == {k for k, p in kids.items() if p in (a, b)}


def test_children_of_parents_follow_lookup_changes_deletes_and_an_older_state_dir(tmp_path):
    """The parents' filter reads through the sandbox's lookup index: a child re-pointed to another
    parent moves with it, a deleted child is gone, and a state directory written before the index
    existed is indexed when it is opened."""
    import sqlite3

    def children(server, *parents):
        where = " or ".join(f"_cspb_account_value eq {p}" for p in parents)
        r = requests.get(api(server) + "cspb_billingcontracts", headers=AUTH, timeout=5,
                         params={"$select": "cspb_name", "$filter": f"({where})"})
        assert r.status_code == 200, r.text
        return {row["cspb_name"] for row in r.json()["value"]}

    state = tmp_path / "dv"
    app = build_app(state)
    with RunningServer(app) as server:
        def create(entity_set, body):
            r = requests.post(api(server) + entity_set, json=body, headers=AUTH, timeout=5)
            assert r.status_code == 204, r.text
            return r.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")

        a, b, c = (create("accounts", {"name": n}) for n in "abc")
        moved = create("cspb_billingcontracts", {"cspb_name": "moved", "cspb_contractnumber": "K-1",
                                                 "cspb_account@odata.bind": f"/accounts({a})"})
        gone = create("cspb_billingcontracts", {"cspb_name": "gone", "cspb_contractnumber": "K-2",
                                                "cspb_account@odata.bind": f"/accounts({a})"})
        create("cspb_billingcontracts", {"cspb_name": "stays", "cspb_contractnumber": "K-3",
                                         "cspb_account@odata.bind": f"/accounts({b})"})
        assert children(server, a, c) == {"moved", "gone"}
        assert requests.patch(api(server) + f"cspb_billingcontracts({moved})", headers=AUTH, timeout=5,
                              json={"cspb_account@odata.bind": f"/accounts({c})"}).status_code == 204
        assert requests.delete(api(server) + f"cspb_billingcontracts({gone})", headers=AUTH,
                               timeout=5).status_code == 204
        assert children(server, a, b) == {"stays"}
        assert children(server, a, c) == {"moved"}
    app.close()

    db = sqlite3.connect(state / "dataverse.sqlite3")
    db.execute("DROP TABLE refs")
    db.execute("PRAGMA user_version = 0")
    db.commit()
    db.close()
    app = build_app(state)
    with RunningServer(app) as server:
        assert children(server, b, c) == {"stays", "moved"}
    app.close()
