"""Payloads shaped like the RemoteExecutionContext sample on Microsoft Learn ("Use webhooks",
request body); ids and names are made up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dataverse.webhook import DataverseEvent, EntityImage, EntityRef, event_key, parse_event
from shared.errors import ValidationError

SUB_ID = "5C1A2B3D-0000-4E5F-8A9B-000000000001"
CONTRACT_ID = "7d2b3c4e-0000-4e5f-8a9b-000000000002"
ORG_ID = "0a1b2c3d-0000-4e5f-8a9b-000000000003"
USER_ID = "1b2c3d4e-0000-4e5f-8a9b-000000000004"
CORRELATION = "9e1a5ef3-3a5f-4a70-8ad5-2bde4d1c2cbb"
REQUEST = "2c3d4e5f-0000-4e5f-8a9b-000000000005"
CONTRACTS = "http://schemas.microsoft.com/xrm/2011/Contracts"


def _entity(logical: str, ident: str, attributes: list[dict]) -> dict:
    return {
        "__type": f"Entity:{CONTRACTS}",
        "Attributes": attributes,
        "EntityState": None,
        "FormattedValues": [{"key": "cspb_status", "value": "Active"}],
        "Id": ident,
        "KeyAttributes": [],
        "LogicalName": logical,
        "RelatedEntities": [],
        "RowVersion": "1234567",
    }


def _update_body(**overrides) -> str:
    target = _entity("cspb_subscription", SUB_ID, [
        {"key": "cspb_quantity", "value": 12},
        {"key": "cspb_unitprice", "value": {"__type": f"Money:{CONTRACTS}", "Value": 10.1}},
        {"key": "cspb_status", "value": {"__type": f"OptionSetValue:{CONTRACTS}", "Value": 1}},
        {"key": "cspb_billingcontract", "value": {
            "__type": f"EntityReference:{CONTRACTS}", "Id": CONTRACT_ID, "KeyAttributes": [],
            "LogicalName": "cspb_billingcontract", "Name": "BC-0001", "RowVersion": None}},
        {"key": "cspb_autorenew", "value": True},
        {"key": "cspb_commitmentenddate", "value": "/Date(1767225600000)/"},
        {"key": "modifiedon", "value": "/Date(1534208052807+0000)/"},
        {"key": "cspb_driftdetail", "value": None},
    ])
    pre = _entity("cspb_subscription", SUB_ID, [
        {"key": "cspb_quantity", "value": 10},
        {"key": "cspb_unitprice", "value": {"__type": f"Money:{CONTRACTS}", "Value": 10.1}},
    ])
    ctx = {
        "BusinessUnitId": "3d4e5f60-0000-4e5f-8a9b-000000000006",
        "CorrelationId": CORRELATION,
        "Depth": 1,
        "InitiatingUserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "InitiatingUserId": USER_ID,
        "InputParameters": [{"key": "Target", "value": target}],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": "Update",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1534208052807+0000)/",
        "OperationId": "4e5f6071-0000-4e5f-8a9b-000000000007",
        "OrganizationId": ORG_ID,
        "OrganizationName": "contoso",
        "OutputParameters": [],
        "OwningExtension": {"Id": "5f607182-0000-4e5f-8a9b-000000000008", "KeyAttributes": [],
                            "LogicalName": "sdkmessageprocessingstep",
                            "Name": "CSPBridge: Update of cspb_subscription", "RowVersion": None},
        "ParentContext": None,
        "PostEntityImages": [],
        "PreEntityImages": [{"key": "PreImage", "value": pre}],
        "PrimaryEntityId": SUB_ID,
        "PrimaryEntityName": "cspb_subscription",
        "RequestId": REQUEST,
        "SecondaryEntityName": "none",
        "SharedVariables": [{"key": "IsAutoTransact", "value": True}],
        "Stage": 40,
        "UserAzureActiveDirectoryObjectId": "00000000-0000-0000-0000-000000000000",
        "UserId": USER_ID,
    }
    ctx.update(overrides)
    return json.dumps(ctx)


def test_update_with_pre_image_becomes_typed_values():
    event = parse_event(_update_body().encode())
    assert isinstance(event, DataverseEvent)
    assert (event.message_name, event.primary_entity_name) == ("Update", "cspb_subscription")
    assert event.primary_entity_id == SUB_ID.lower()
    assert (event.stage, event.mode, event.depth) == (40, 1, 1)
    assert event.organization_name == "contoso" and event.organization_id == ORG_ID
    assert event.operation_created_on == datetime(2018, 8, 14, 0, 54, 12, 807000, tzinfo=UTC)
    target = event.target
    assert isinstance(target, EntityImage) and target.id == SUB_ID.lower()
    attrs = target.attributes
    assert attrs["cspb_quantity"] == 12
    assert attrs["cspb_unitprice"] == Decimal("10.1") and isinstance(attrs["cspb_unitprice"], Decimal)
    assert attrs["cspb_status"] == 1
    assert attrs["cspb_billingcontract"] == EntityRef("cspb_billingcontract", CONTRACT_ID, "BC-0001")
    assert attrs["cspb_autorenew"] is True
    assert attrs["cspb_commitmentenddate"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert attrs["cspb_driftdetail"] is None
    assert target.formatted_values == {"cspb_status": "Active"}
    assert event.pre_image is not None and event.pre_image.get("cspb_quantity") == 10
    assert event.post_image is None
    assert event.value("cspb_quantity") == 12 and event.value("missing", "x") == "x"


def test_money_keeps_exact_decimal_from_a_prepared_dict():
    body = json.loads(_update_body())  # floats, as a caller's own json.loads gives them
    event = parse_event(body)
    assert event.target.attributes["cspb_unitprice"] == Decimal("10.1")


def test_create_has_output_id_and_post_image():
    post = _entity("cspb_agreement", SUB_ID, [{"key": "cspb_status", "value": {
        "__type": f"OptionSetValue:{CONTRACTS}", "Value": 1}}])
    body = _update_body(MessageName="Create", PrimaryEntityName="cspb_agreement", PreEntityImages=[],
                        PostEntityImages=[{"key": "Image", "value": post}],
                        OutputParameters=[{"key": "id", "value": SUB_ID}], RequestId=None)
    event = parse_event(body)
    assert event.output_parameters == {"id": SUB_ID}
    assert event.post_image is not None and event.post_image.get("cspb_status") == 1
    assert event.request_id is None


def test_delete_target_is_a_reference():
    ref = {"__type": f"EntityReference:{CONTRACTS}", "Id": SUB_ID, "KeyAttributes": [],
           "LogicalName": "cspb_subscription", "Name": None, "RowVersion": None}
    event = parse_event(_update_body(MessageName="Delete", InputParameters=[{"key": "Target", "value": ref}]))
    assert event.target == EntityImage("cspb_subscription", SUB_ID.lower())


def test_size_exceeded_payload_without_inputs_still_parses():
    body = json.loads(_update_body())
    for name in ("InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext"):
        body.pop(name)
    event = parse_event(body, size_exceeded=True)
    assert event.truncated and event.target == EntityImage("cspb_subscription", SUB_ID.lower())


def test_event_key_dedupes_retries_and_separates_messages():
    first = parse_event(_update_body())
    again = parse_event(_update_body())
    assert event_key(first) == event_key(again)
    assert event_key(first) == f"{REQUEST}|update|cspb_subscription|{SUB_ID.lower()}"
    create = parse_event(_update_body(MessageName="Create"))
    assert event_key(create) != event_key(first)
    no_request = parse_event(_update_body(RequestId=None))
    assert event_key(no_request).startswith(CORRELATION + "|")


@pytest.mark.parametrize(("overrides", "field"), [
    ({"MessageName": None}, "MessageName"),
    ({"PrimaryEntityName": ""}, "PrimaryEntityName"),
    ({"PrimaryEntityId": "not-a-guid"}, "PrimaryEntityId"),
    ({"CorrelationId": None}, "CorrelationId"),
    ({"Depth": "1"}, "Depth"),
    ({"InputParameters": {"Target": {}}}, "InputParameters"),
    ({"InputParameters": [{"key": "Target", "value": 5}]}, "InputParameters[Target]"),
    ({"OperationCreatedOn": "2018-08-14"}, "OperationCreatedOn"),
])
def test_malformed_context_names_the_field(overrides, field):
    with pytest.raises(ValidationError) as err:
        parse_event(_update_body(**overrides))
    assert field in str(err.value)


def test_malformed_values_name_their_path():
    bad_money = [{"key": "Target", "value": _entity("cspb_subscription", SUB_ID, [
        {"key": "cspb_unitprice", "value": {"__type": f"Money:{CONTRACTS}", "Value": "ten"}}])}]
    with pytest.raises(ValidationError, match=r"Attributes\[cspb_unitprice\]\.Value"):
        parse_event(_update_body(InputParameters=bad_money))
    bad_ref = [{"key": "Target", "value": _entity("cspb_subscription", SUB_ID, [
        {"key": "cspb_billingcontract", "value": {"__type": f"EntityReference:{CONTRACTS}", "Id": "x",
                                                  "LogicalName": "cspb_billingcontract"}}])}]
    with pytest.raises(ValidationError, match=r"cspb_billingcontract\]\.Id"):
        parse_event(_update_body(InputParameters=bad_ref))
    bad_option = [{"key": "Target", "value": _entity("cspb_subscription", SUB_ID, [
        {"key": "cspb_status", "value": {"__type": f"OptionSetValue:{CONTRACTS}"}}])}]
    with pytest.raises(ValidationError, match=r"cspb_status\]\.Value is missing"):
        parse_event(_update_body(InputParameters=bad_option))
    with pytest.raises(ValidationError, match="body"):
        parse_event(b"{not json")
    with pytest.raises(ValidationError, match="body"):
        parse_event("[1, 2]")


def test_bom_prefixed_body_is_accepted():
    assert parse_event(b"\xef\xbb\xbf" + _update_body().encode()).message_name == "Update"
