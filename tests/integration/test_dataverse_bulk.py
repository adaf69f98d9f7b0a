"""$batch changesets, UpsertMultiple and bulk_upsert against the sandbox."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dataverse import odata
from dataverse.batch import BatchRequest
from shared.errors import ConflictError, ValidationError

pytestmark = pytest.mark.integration


def test_changeset_commits_together_and_content_id_refs_work(dv):
    responses = dv.batch([
        BatchRequest("POST", "accounts", {"name": "Parent"}, content_id="1"),
        BatchRequest("POST", "contacts", {"lastname": "Doe", "parentcustomerid_account@odata.bind": "$1"}),
        BatchRequest("PATCH", odata.key_segment("cspb_subscriptions", {"cspb_providersubscriptionid": "S1"}),
                     {"cspb_quantity": 2}),
    ])
    assert [r.status for r in responses] == [204, 204, 204]
    account_id = responses[0].entity_id
    contact = dv.get("contacts", responses[1].entity_id, select=["_parentcustomerid_value"])
    assert contact["_parentcustomerid_value"] == account_id
    assert dv.get_by_key("cspb_subscriptions", {"cspb_providersubscriptionid": "S1"})["cspb_quantity"] == 2


def test_failing_changeset_rolls_back_everything(dv):
    dv.create("accounts", {"name": "existing"})
    with pytest.raises(ValidationError) as err:
        dv.batch([
            BatchRequest("POST", "accounts", {"name": "would be rolled back"}),
            BatchRequest("POST", "accounts", {"name": "bad", "nosuchcolumn": 1}),
        ])
    assert err.value.details["content_id"] == "2"
    assert sorted(r["name"] for r in dv.list("accounts")) == ["existing"]


def test_batch_without_changeset_runs_every_request(dv):
    account_id = dv.create("accounts", {"name": "A"})
    responses = dv.batch([
        BatchRequest("GET", odata.id_segment("accounts", account_id) + "?$select=name"),
        BatchRequest("PATCH", odata.id_segment("accounts", "00000000-0000-0000-0000-000000000009"),
                     {"name": "x"}, headers={"If-Match": "*"}),
        BatchRequest("POST", "accounts", {"name": "B"}),
    ], changeset=False)
    assert [r.status for r in responses] == [200, 404, 204]
    assert responses[0].body["name"] == "A"
    assert sorted(r["name"] for r in dv.list("accounts")) == ["A", "B"]


def test_upsert_multiple_creates_then_updates(dv, dv_server):
    targets = [{"@odata.id": odata.key_segment("cspb_subscriptions", {"cspb_providersubscriptionid": f"S{n}"},
                                               encode=False),
                "cspb_quantity": n, "cspb_unitprice": Decimal("1.10")} for n in range(5)]
    assert dv.upsert_multiple("cspb_subscriptions", "cspb_subscription", targets, batch_size=2) == 5
    assert dv_server.app.api.stats["POST UpsertMultiple"] == 3
    targets[0]["cspb_quantity"] = 42
    dv.upsert_multiple("cspb_subscriptions", "cspb_subscription", targets[:1])
    rows = {r["cspb_providersubscriptionid"]: r for r in dv.list("cspb_subscriptions")}
    assert len(rows) == 5 and rows["S0"]["cspb_quantity"] == 42 and rows["S4"]["cspb_unitprice"] == Decimal("1.10")


def test_upsert_multiple_is_all_or_nothing(dv):
    targets = [{"@odata.id": f"cspb_subscriptions(cspb_providersubscriptionid='ok{n}')", "cspb_quantity": 1}
               for n in range(3)]
    targets.append({"@odata.id": "cspb_subscriptions(cspb_providersubscriptionid='bad')", "cspb_quantity": "x"})
    with pytest.raises(ValidationError):
        dv.upsert_multiple("cspb_subscriptions", "cspb_subscription", targets)
    assert list(dv.list("cspb_subscriptions")) == []


def test_bulk_upsert_runs_in_parallel_up_to_dop_hint(dv, dv_server):
    dv_server.app.api.dop_hint = 3
    records = [{"cspb_providersubscriptionid": f"P{n:03d}", "cspb_quantity": n} for n in range(250)]
    assert dv.bulk_upsert("cspb_subscriptions", "cspb_subscription", ["cspb_providersubscriptionid"], records,
                          batch_size=40) == 250
    assert dv.dop_hint == 3
    assert dv_server.app.api.stats["POST UpsertMultiple"] == 7
    rows = list(dv.list("cspb_subscriptions", filter="cspb_quantity ge 240", select="cspb_providersubscriptionid"))
    assert sorted(r["cspb_providersubscriptionid"] for r in rows) == [f"P{n}" for n in range(240, 250)]


def test_bulk_upsert_falls_back_to_batch_when_upsertmultiple_is_unsupported(dv, dv_server):
    dv_server.app.api.multiple_unsupported.add("invoice")
    records = [{"cspb_invoicekey": f"I{n}", "name": f"Invoice {n}"} for n in range(120)]
    assert dv.bulk_upsert("invoices", "invoice", ["cspb_invoicekey"], records) == 120
    assert dv_server.app.api.stats["POST $batch"] == 2
    assert dv_server.app.api.stats["rows written"] == 120


def test_bulk_upsert_surfaces_a_bad_row(dv, dv_server):
    dv_server.app.api.multiple_unsupported.add("invoice")
    with pytest.raises(ValidationError):
        dv.bulk_upsert("invoices", "invoice", ["cspb_invoicekey"], [{"cspb_invoicekey": "I1", "name": 5}])
    with pytest.raises(ValidationError, match="key column"):
        dv.bulk_upsert("invoices", "invoice", ["cspb_invoicekey"], [{"name": "no key"}])


def test_duplicate_alternate_key_is_a_conflict(dv):
    dv.create("cspb_subscriptions", {"cspb_providersubscriptionid": "DUP"})
    with pytest.raises(ConflictError):
        dv.create("cspb_subscriptions", {"cspb_providersubscriptionid": "dup"})
