from __future__ import annotations

import shutil
from pathlib import Path

from solution import schema
from solution.schema import load_tables

TYPES = {"string", "memo", "int", "decimal", "money", "bool", "datetime", "date", "picklist", "lookup",
         "uniqueidentifier", "state", "status"}


def test_custom_table_shape():
    sub = load_tables()["cspb_subscription"]
    assert sub.entity_set_name == "cspb_subscriptions"
    assert (sub.primary_id, sub.primary_name, sub.custom) == ("cspb_subscriptionid", "cspb_name", True)
    assert sub.alternate_keys == [("cspb_providersubscriptionid_key", ("cspb_providersubscriptionid",))]
    assert sub.attributes["cspb_billingcontract"].target == "cspb_billingcontract"
    assert sub.attributes["cspb_unitprice"].type == "money"
    assert sub.attributes["cspb_status"].options[4] == "Cancelled"
    assert sub.attributes["cspb_providersubscriptionid"].required
    assert sub.attributes["cspb_term"].max_length == 10
    assert sub.attributes["cspb_driftdetail"].max_length == 1048576
    assert sub.attributes["cspb_quantity"].max_length is None


def test_standard_tables_merge_platform_and_solution_columns():
    tables = load_tables()
    inv = tables["invoice"]
    assert not inv.custom and inv.entity_set_name == "invoices" and inv.primary_id == "invoiceid"
    assert inv.attributes["totalamount"].type == "money"
    assert inv.attributes["cspb_billingcontract"].target == "cspb_billingcontract"
    assert ("cspb_invoicekey_key", ("cspb_invoicekey",)) in inv.alternate_keys
    assert tables["contact"].attributes["cspb_portalrole"].options == {
        1: "Administrator", 2: "Subscription Manager", 3: "Finance Manager"}
    assert tables["uom"].entity_set_name == "uoms"


def test_every_attribute_is_typed_and_every_lookup_resolves():
    tables = load_tables()
    for table in tables.values():
        assert table.primary_id in table.attributes, table.logical_name
        assert table.primary_name in table.attributes, table.logical_name
        for attr in table.attributes.values():
            assert attr.type in TYPES, (table.logical_name, attr.logical_name)
            if attr.type == "lookup":
                assert attr.target in tables, (table.logical_name, attr.logical_name, attr.target)
            if attr.type == "picklist":
                assert attr.options, (table.logical_name, attr.logical_name)
        for _name, cols in table.alternate_keys:
            assert all(c in table.attributes for c in cols)


def test_cache_is_invalidated_when_source_changes(tmp_path: Path):
    src = tmp_path / "src"
    shutil.copytree(schema.SRC, src)
    assert "cspb_kpisnapshot" in load_tables(src)
    shutil.rmtree(src / "Entities" / "cspb_KpiSnapshot")
    assert "cspb_kpisnapshot" not in load_tables(src)


def test_returned_mapping_is_a_copy():
    load_tables().pop("account")
    assert "account" in load_tables()
