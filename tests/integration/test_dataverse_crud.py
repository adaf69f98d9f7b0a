"""DataverseClient against the Dataverse sandbox over loopback HTTP: CRUD, paging, upserts, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dataverse import odata
from shared.errors import ConflictError, NotFoundError, ThrottledError, ValidationError

pytestmark = pytest.mark.integration


def test_create_get_update_delete(dv):
    account_id = dv.create("accounts", {"name": "Contoso", "emailaddress1": "billing@contoso.example"})
    row = dv.get("accounts", account_id, select=["name", "emailaddress1"])
    assert row["name"] == "Contoso" and row["accountid"] == account_id
    assert row["@odata.etag"].startswith('W/"')

    dv.update("accounts", account_id, {"name": "Contoso Ltd"})
    assert dv.get("accounts", account_id)["name"] == "Contoso Ltd"

    dv.delete("accounts", account_id)
    with pytest.raises(NotFoundError):
        dv.get("accounts", account_id)


def test_update_of_missing_row_is_not_an_upsert(dv):
    with pytest.raises(NotFoundError):
        dv.update("accounts", "00000000-0000-0000-0000-000000000001", {"name": "ghost"})
    assert list(dv.list("accounts")) == []


def test_etag_mismatch_is_a_conflict(dv):
    account_id = dv.create("accounts", {"name": "A"})
    stale = dv.get("accounts", account_id)["@odata.etag"]
    dv.update("accounts", account_id, {"name": "B"}, etag=stale)
    with pytest.raises(ConflictError) as err:
        dv.update("accounts", account_id, {"name": "C"}, etag=stale)
    assert err.value.status == 412
    with pytest.raises(ConflictError):
        dv.delete("accounts", account_id, etag=stale)
    fresh = dv.get("accounts", account_id)["@odata.etag"]
    dv.delete("accounts", account_id, etag=fresh)


def test_money_round_trips_exactly_as_decimal(dv):
    sub = dv.upsert("cspb_subscriptions", {"cspb_providersubscriptionid": "S-1"},
                    {"cspb_unitprice": Decimal("12.3456"), "cspb_quantity": 3})
    row = dv.get("cspb_subscriptions", sub.id, select="cspb_unitprice,cspb_quantity")
    assert row["cspb_unitprice"] == Decimal("12.3456") and isinstance(row["cspb_unitprice"], Decimal)
    assert row["cspb_quantity"] == 3


def test_upsert_modes_and_get_by_key(dv):
    key = {"cspb_provider": 1, "cspb_externalid": "tenant-1"}
    first = dv.upsert("cspb_provideraccounts", key, {"cspb_domain": "a.example"})
    assert first.created
    again = dv.upsert("cspb_provideraccounts", key, {"cspb_domain": "b.example"})
    assert again == type(first)(first.id, False)
    assert dv.get_by_key("cspb_provideraccounts", key, select=["cspb_domain"])["cspb_domain"] == "b.example"

    with pytest.raises(ConflictError):
        dv.upsert("cspb_provideraccounts", key, {"cspb_domain": "c.example"}, mode="create_only")
    with pytest.raises(NotFoundError):
        dv.upsert("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": "nope"}, {}, mode="update_only")
    assert dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": "nope"}) is None
    updated = dv.upsert("cspb_provideraccounts", key, {"cspb_domain": "d.example"}, mode="update_only")
    assert not updated.created and updated.id == first.id
    created = dv.upsert("cspb_provideraccounts", {"cspb_provider": 2, "cspb_externalid": "x'y/z"}, {},
                        mode="create_only")
    assert created.created
    row = dv.get_by_key("cspb_provideraccounts", {"cspb_provider": 2, "cspb_externalid": "x'y/z"})
    assert row["cspb_externalid"] == "x'y/z" and row["cspb_provider"] == 2


def test_lookups_bind_and_read_back(dv):
    account_id = dv.create("accounts", {"name": "Fabrikam"})
    pa = dv.upsert("cspb_provideraccounts", {"cspb_provider": 1, "cspb_externalid": "t"},
                   {"cspb_account@odata.bind": odata.bind("accounts", account_id)})
    row = dv.get("cspb_provideraccounts", pa.id, select=["_cspb_account_value"])
    assert row["_cspb_account_value"] == account_id
    rows = list(dv.list("cspb_provideraccounts", filter=f"_cspb_account_value eq {account_id}"))
    assert [r["cspb_provideraccountid"] for r in rows] == [pa.id]
    with pytest.raises(NotFoundError):
        dv.create("cspb_provideraccounts", {"cspb_account@odata.bind": "/accounts(00000000-0000-0000-0000-00000000abcd)"})


def test_paging_follows_next_link(dv, dv_server):
    for n in range(23):
        dv.create("accounts", {"name": f"acct {n:02d}"})
    before = dv_server.app.api.stats["GET list"]
    names = [r["name"] for r in dv.list("accounts", select=["name"], orderby="name desc", page_size=5)]
    assert names == [f"acct {n:02d}" for n in reversed(range(23))]
    assert dv_server.app.api.stats["GET list"] - before == 5


def test_filters_top_and_orderby(dv):
    for n, (country, portal) in enumerate([("US", True), ("DE", False), ("US", False), (None, True)]):
        dv.create("accounts", {"name": f"A{n}", "address1_country": country, "cspb_portalenabled": portal})
    got = [r["name"] for r in dv.list("accounts", filter="address1_country eq 'us' and not (cspb_portalenabled eq true)")]
    assert got == ["A2"]
    got = [r["name"] for r in dv.list("accounts", filter="address1_country eq null or startswith(name,'a1')",
                                      orderby="name")]
    assert got == ["A1", "A3"]
    assert [r["name"] for r in dv.list("accounts", orderby="name desc", top=2)] == ["A3", "A2"]


def test_unknown_column_and_table_are_rejected_by_name(dv):
    with pytest.raises(ValidationError, match="cspb_nosuchcolumn"):
        dv.create("accounts", {"name": "x", "cspb_nosuchcolumn": 1})
    with pytest.raises(ValidationError, match="nosuch"):
        list(dv.list("accounts", select=["nosuch"]))
    with pytest.raises(ValidationError, match="bogus"):
        list(dv.list("accounts", filter="bogus eq 1"))
    with pytest.raises(NotFoundError, match="cspb_nosuchtables"):
        list(dv.list("cspb_nosuchtables"))
    with pytest.raises(NotFoundError):
        dv.get_by_key("cspb_nosuchtables", {"x": "y"})
    with pytest.raises(ValidationError):
        dv.create("cspb_subscriptions", {"cspb_quantity": "three"})


def test_throttling_is_retried_after_retry_after(dv_server):
    from dataverse.client import DataverseClient
    from shared.http import RetryPolicy

    waits: list[float] = []
    client = DataverseClient(dv_server.url, lambda: "t",
                             retry=RetryPolicy(max_attempts=3, max_retry_after=5, sleep=waits.append))
    dv_server.app.faults.set(throttle_every=2, retry_after_seconds=2.0)
    ids = [client.create("accounts", {"name": f"t{n}"}) for n in range(3)]
    assert len(set(ids)) == 3
    # requests 2 and 4 of 5 were refused; each retry waited what Retry-After asked for
    assert waits == [2.0, 2.0]
    assert dv_server.app.faults.injected["429"] == 2

    dv_server.app.faults.set(throttle_every=1, retry_after_seconds=1.0)
    with pytest.raises(ThrottledError) as err:
        client.get("accounts", ids[0])
    assert err.value.retry_after == 1.0
