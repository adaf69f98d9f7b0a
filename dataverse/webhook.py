"""Parse the RemoteExecutionContext JSON that a Dataverse webhook POSTs into typed values.

Shape (https://learn.microsoft.com/power-apps/developer/data-platform/use-webhooks, "Request body";
type: https://learn.microsoft.com/dotnet/api/microsoft.xrm.sdk.remoteexecutioncontext):
- InputParameters / OutputParameters / PreEntityImages / PostEntityImages / SharedVariables are
  lists of {"key", "value"}, not objects;
- an Entity is {"__type": "Entity:...", "LogicalName", "Id", "Attributes": [{key, value}], "FormattedValues"};
- typed values carry "__type": EntityReference {Id, LogicalName, Name}, Money {Value},
  OptionSetValue {Value}; dates are WCF JSON dates "/Date(1534208052000)/" (ms since the epoch,
  UTC; an optional "+0000" suffix is the sender's offset and does not move the instant).
- When the body would exceed 256 KB, Dataverse sends the header `x-ms-dynamics-msg-size-exceeded`
  and drops ParentContext, InputParameters and the images; pass `size_exceeded=True` then.

Webhooks are hints: a handler must re-read the record; nothing here is authoritative.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.dates import parse_wcf_date
from shared.errors import ValidationError

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

SIZE_EXCEEDED_HEADER = "x-ms-dynamics-msg-size-exceeded"

# Limits on what a body may be, so hostile input is a 400 naming the problem, never a crash:
# Dataverse caps a webhook body at 256 KB (bigger ones arrive trimmed, with SIZE_EXCEEDED_HEADER),
# so 1 MB is generous; real contexts nest about 8 deep (context > parameters > entity > attribute > value).
MAX_BODY_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_INT_DIGITS = 40  # a 128-bit integer has 39 digits; Dataverse's BigInt has 19
MAX_NAME = 128  # logical names are at most 50 characters; message names are short too
_LOGICAL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BodyTooLarge(ValidationError):
    """Maps to 413."""


@dataclass(frozen=True)
class EntityRef:
    logical_name: str
    id: str
    name: str | None = None


@dataclass(frozen=True)
class EntityImage:
    logical_name: str
    id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    formatted_values: dict[str, str] = field(default_factory=dict)

    def get(self, name: str, default: Any = None) -> Any:
        return self.attributes.get(name, default)


@dataclass(frozen=True)
class DataverseEvent:
    message_name: str
    primary_entity_name: str
    primary_entity_id: str
    correlation_id: str
    request_id: str | None
    operation_id: str | None
    depth: int
    stage: int  # 10 PreValidation, 20 PreOperation, 40 PostOperation
    mode: int  # 0 synchronous, 1 asynchronous
    user_id: str | None
    initiating_user_id: str | None
    organization_id: str | None
    organization_name: str | None
    operation_created_on: datetime | None
    target: EntityImage | None
    pre_image: EntityImage | None
    post_image: EntityImage | None
    input_parameters: dict[str, Any] = field(default_factory=dict)
    output_parameters: dict[str, Any] = field(default_factory=dict)
    truncated: bool = False

    def value(self, name: str, default: Any = None) -> Any:
        """The newest value the payload carries: target (what changed), then post, then pre image."""
        for image in (self.target, self.post_image, self.pre_image):
            if image is not None and name in image.attributes:
                return image.attributes[name]
        return default


def _bad(path: str, problem: str) -> ValidationError:
    return ValidationError(f"webhook payload: {path} {problem}", details={"field": path})


def parse_date(text: str, path: str = "date") -> datetime:
    try:
        return parse_wcf_date(text)
    except ValueError as exc:
        raise _bad(path, str(exc)) from None


def _guid(value: Any, path: str, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _GUID.match(value):
        raise _bad(path, "is missing" if value is None else f"is not a GUID: {str(value)[:40]!r}")
    return value.lower()


def _kind(obj: Mapping[str, Any]) -> str:
    return str(obj.get("__type", "")).split(":", 1)[0]


def _pairs(items: Any, path: str) -> dict[str, Any]:
    """[{key, value}, ...] -> {key: converted value}."""
    if items is None:
        return {}
    if not isinstance(items, list):
        raise _bad(path, "must be a list of {key, value}")
    out: dict[str, Any] = {}
    for i, item in enumerate(items):
        if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
            raise _bad(f"{path}[{i}]", "must be an object with a string key")
        out[item["key"]] = convert(item.get("value"), f"{path}[{item['key']}]")
    return out


def _entity(obj: Mapping[str, Any], path: str) -> EntityImage:
    logical = obj.get("LogicalName")
    if not isinstance(logical, str) or not logical:
        raise _bad(f"{path}.LogicalName", "is missing")
    raw_id = obj.get("Id")
    ident = None if raw_id in (None, "00000000-0000-0000-0000-000000000000") else _guid(raw_id, f"{path}.Id")
    formatted = _pairs(obj.get("FormattedValues"), f"{path}.FormattedValues")
    return EntityImage(logical, ident, _pairs(obj.get("Attributes"), f"{path}.Attributes"),
                       {k: str(v) for k, v in formatted.items()})


def _ref(obj: Mapping[str, Any], path: str) -> EntityRef:
    logical = obj.get("LogicalName")
    if not isinstance(logical, str) or not logical:
        raise _bad(f"{path}.LogicalName", "is missing")
    ident = _guid(obj.get("Id"), f"{path}.Id")
    assert ident is not None
    name = obj.get("Name")
    return EntityRef(logical, ident, name if isinstance(name, str) else None)


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise _bad(path, f"is not a number: {value!r}")
    try:
        # str() first: a float parsed elsewhere keeps its shortest repr (12.1, not 12.0999...)
        return Decimal(str(value))
    except InvalidOperation:
        raise _bad(path, f"is not a number: {value!r}") from None


def convert(value: Any, path: str = "value") -> Any:
    """One serialized SDK value -> plain Python (Decimal, int, datetime, EntityRef, EntityImage...)."""
    if isinstance(value, str):
        return parse_date(value, path) if value.startswith("/Date(") else value
    if isinstance(value, float):
        return _decimal(value, path)
    if isinstance(value, list):
        return [convert(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, Mapping):
        return value  # None, bool, int, Decimal
    kind = _kind(value)
    if kind in ("OptionSetValue", "Money"):
        if "Value" not in value:
            raise _bad(f"{path}.Value", "is missing")
        if kind == "Money":
            return _decimal(value["Value"], f"{path}.Value")
        if isinstance(value["Value"], bool) or not isinstance(value["Value"], int):
            raise _bad(f"{path}.Value", f"is not an integer option value: {value['Value']!r}")
        return value["Value"]
    if kind == "EntityReference":
        return _ref(value, path)
    if kind == "Entity" or ("Attributes" in value and "LogicalName" in value):
        return _entity(value, path)
    if kind == "EntityCollection":
        return [_entity(e, f"{path}.Entities[{i}]") for i, e in enumerate(value.get("Entities") or [])]
    if kind == "OptionSetValueCollection":
        return [convert(v, f"{path}[{i}]") for i, v in enumerate(value.get("Values") or [])]
    if kind in ("AliasedValue", "BooleanManagedProperty"):
        return convert(value.get("Value"), f"{path}.Value")
    if kind == "" and "LogicalName" in value and "Id" in value:
        return _ref(value, path)
    return dict(value)


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _bad("body", f"has an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _parse_float(text: str) -> Decimal:
    value = Decimal(text)
    if len(text) > 100 or (value and not -400 < value.adjusted() < 400):
        raise _bad("body", f"has a number out of range: {text[:40]!r}")
    return value


def _no_constants(name: str) -> Any:
    raise _bad("body", f"has {name}, which is not JSON")


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")


def check_depth(text: str, limit: int = MAX_DEPTH) -> None:
    """Refuse nesting deeper than `limit` before the parser recurses into it (json.loads would
    raise RecursionError, and a deep structure costs every later walk too)."""
    depth = 0
    for match in _BRACKETS.finditer(_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                raise _bad("body", f"nests deeper than {limit} levels")
        else:
            depth -= 1


def _load(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(body, Mapping):
        return body
    if len(body) > MAX_BODY_BYTES:
        raise BodyTooLarge(f"webhook payload: body is {len(body)} bytes, more than {MAX_BODY_BYTES}",
                           details={"field": "body"})
    try:
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise _bad("body", "is not UTF-8 JSON") from None
    check_depth(text)
    try:
        data = json.loads(text, parse_float=_parse_float, parse_int=_parse_int, parse_constant=_no_constants)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise _bad("body", f"is not JSON ({exc.__class__.__name__})") from None
    if not isinstance(data, Mapping):
        raise _bad("body", "must be a JSON object")
    return data


def _str(ctx: Mapping[str, Any], name: str) -> str:
    value = ctx.get(name)
    if not isinstance(value, str) or not value:
        raise _bad(name, "is missing")
    return value


def _name(ctx: Mapping[str, Any], name: str) -> str:
    """A message or table logical name: letters, digits and underscores, short. It goes into the
    inbox's event key, which is an alternate key in a URL, so an unchecked one could make a 414."""
    value = _str(ctx, name)
    if len(value) > MAX_NAME:
        raise _bad(name, f"is {len(value)} characters long (at most {MAX_NAME})")
    if not _LOGICAL_NAME.match(value):
        raise _bad(name, f"is not a logical name: {value[:40]!r}")
    return value


def _int(ctx: Mapping[str, Any], name: str, default: int) -> int:
    value = ctx.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(name, f"is not an integer: {value!r}")
    return value


def _image(images: dict[str, Any], path: str) -> EntityImage | None:
    """Steps name their images freely (PreImage, Image, ...); we register one of each kind."""
    for name, image in images.items():
        if not isinstance(image, EntityImage):
            raise _bad(f"{path}[{name}]", "is not an Entity")
        return image
    return None


def parse_event(body: bytes | str | Mapping[str, Any], *, size_exceeded: bool = False) -> DataverseEvent:
    """Parse one webhook body. Raises ValidationError naming the missing or bad field."""
    ctx = _load(body)
    message = _name(ctx, "MessageName")
    entity = _name(ctx, "PrimaryEntityName")
    entity_id = _guid(ctx.get("PrimaryEntityId"), "PrimaryEntityId")
    assert entity_id is not None
    inputs = _pairs(ctx.get("InputParameters"), "InputParameters")
    target_raw = inputs.get("Target")
    if isinstance(target_raw, EntityRef):  # Delete, Assign, SetState... carry a reference
        target: EntityImage | None = EntityImage(target_raw.logical_name, target_raw.id)
    elif target_raw is None or isinstance(target_raw, EntityImage):
        target = target_raw
    else:
        raise _bad("InputParameters[Target]", "is neither an Entity nor an EntityReference")
    if target is None and size_exceeded:
        target = EntityImage(entity, entity_id)
    created = ctx.get("OperationCreatedOn")
    return DataverseEvent(
        message_name=message,
        primary_entity_name=entity,
        primary_entity_id=entity_id,
        correlation_id=_guid(ctx.get("CorrelationId"), "CorrelationId") or "",
        request_id=_guid(ctx.get("RequestId"), "RequestId", optional=True),
        operation_id=_guid(ctx.get("OperationId"), "OperationId", optional=True),
        depth=_int(ctx, "Depth", 1),
        stage=_int(ctx, "Stage", 40),
        mode=_int(ctx, "Mode", 1),
        user_id=_guid(ctx.get("UserId"), "UserId", optional=True),
        initiating_user_id=_guid(ctx.get("InitiatingUserId"), "InitiatingUserId", optional=True),
        organization_id=_guid(ctx.get("OrganizationId"), "OrganizationId", optional=True),
        organization_name=ctx["OrganizationName"][:200] if isinstance(ctx.get("OrganizationName"), str) else None,
        operation_created_on=parse_date(created, "OperationCreatedOn") if isinstance(created, str) else None,
        target=target,
        pre_image=_image(_pairs(ctx.get("PreEntityImages"), "PreEntityImages"), "PreEntityImages"),
        post_image=_image(_pairs(ctx.get("PostEntityImages"), "PostEntityImages"), "PostEntityImages"),
        input_parameters=inputs,
        output_parameters=_pairs(ctx.get("OutputParameters"), "OutputParameters"),
        truncated=size_exceeded,
    )


def event_key(event: DataverseEvent) -> str:
    """Inbox dedupe key: the same delivery retried by Dataverse maps to the same key.

    RequestId identifies one SDK request; when it is absent, CorrelationId is used, which can
    also group separate operations on the same record in one transaction. Collapsing those is
    harmless because the worker re-reads the record rather than trusting the payload.
    """
    request = event.request_id or event.correlation_id
    return "|".join((request, event.message_name.lower(), event.primary_entity_name.lower(),
                     event.primary_entity_id))
