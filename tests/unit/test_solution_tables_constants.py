"""dataverse/tables.py must agree with the solution source, value for value."""

from __future__ import annotations

from dataverse import tables as t
from solution.schema import load_tables


def test_entity_sets_and_logical_names_match_the_solution():
    schema = load_tables()
    assert set(t.ENTITY_SET_OF) == set(schema)
    for logical, entity_set in t.ENTITY_SET_OF.items():
        assert schema[logical].entity_set_name == entity_set
        assert schema[logical].primary_id == t.primary_id(logical)


def test_every_choice_enum_matches_its_options():
    schema = load_tables()
    for enum, columns in t.CHOICES.items():
        for ref in columns:
            table, column = ref.split(".")
            options = schema[table].attributes[column].options
            assert options is not None, ref
            assert {m.value for m in enum} == set(options), ref


def test_every_custom_picklist_has_an_enum():
    schema = load_tables()
    covered = {ref for refs in t.CHOICES.values() for ref in refs}
    for table in schema.values():
        for attr in table.attributes.values():
            if attr.type == "picklist" and attr.logical_name.startswith("cspb_"):
                assert f"{table.logical_name}.{attr.logical_name}" in covered


def test_enums_are_ints_on_the_wire():
    assert t.ProvisioningStatus.AWAITING == 1
    assert t.BillingFrequency.ANNUAL == 12
    assert int(t.RefundPolicy.USE_GLOBAL) == 0
