"""Parse and check a tracking plan dict."""

import copy
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from .schema_walk import iter_schemas
from .violations import json_type, pointer

UNPLANNED_POLICIES = ("flag", "block")
ADDITIONAL_PROPERTIES_POLICIES = ("allow", "flag")
# SDK message types validated by type rather than by name: the schema of identify's and group's
# traits, page's properties, alias's {userId, previousId}. (track and screen go by event name.)
TYPED_MESSAGES = ("identify", "group", "page", "alias")


class PlanError(ValueError):
    """A tracking plan is malformed; the message names the event or field at fault."""


@dataclass(frozen=True)
class Plan:
    """A checked tracking plan. raw keeps every top-level key, including unknown ones."""

    events: dict[str, dict[str, Any]]
    unplanned_events: str = "flag"
    additional_properties: str = "allow"
    raw: dict[str, Any] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse_plan(plan: Any) -> Plan:
    """Check a plan dict and return a Plan (of a deep copy); PlanError if malformed."""
    if not isinstance(plan, dict):
        raise PlanError(f"The tracking plan must be a JSON object, got {json_type(plan)}")
    raw = copy.deepcopy(plan)
    if "events" not in raw:
        raise PlanError("The tracking plan has no 'events' object (use {} for an empty plan)")
    events = raw["events"]
    if not isinstance(events, dict):
        raise PlanError(
            f"The tracking plan's 'events' must be an object of event name to schema, "
            f"got {json_type(events)}"
        )
    for name, schema in events.items():
        _check_event(name, schema)
    types = raw.get("types", {})
    if not isinstance(types, dict):
        raise PlanError(f"The tracking plan's 'types' must be an object, got {json_type(types)}")
    for name, schema in types.items():
        if name not in TYPED_MESSAGES:
            raise PlanError(f"'types' may hold {', '.join(TYPED_MESSAGES)}; not {name!r}")
        _check_event(name, schema, kind="Type")
    return Plan(
        events=events,
        unplanned_events=_policy(raw, "unplanned_events", UNPLANNED_POLICIES),
        additional_properties=_policy(raw, "additional_properties", ADDITIONAL_PROPERTIES_POLICIES),
        raw=raw,
        types=types,
    )


def dialect_for(event_name: str, schema: dict[str, Any]) -> type[Validator]:
    """The validator class for the schema's $schema (draft-07 when absent; PlanError if unknown)."""
    if "$schema" not in schema:
        return Draft7Validator
    uri = schema["$schema"]
    if not isinstance(uri, str):
        raise PlanError(f"Event '{event_name}': $schema must be a string, got {json_type(uri)}")
    # default=None makes an unknown dialect visible instead of silently
    # validating with a draft the author did not ask for.
    cls = validator_for(schema, default=None)
    if cls is None:
        raise PlanError(f"Event '{event_name}': unknown $schema {uri!r}")
    return cls


def _policy(raw: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, allowed[0])
    if value not in allowed:
        choices = " or ".join(repr(a) for a in allowed)
        raise PlanError(f"The tracking plan's '{key}' must be {choices}, got {value!r}")
    return value


def _check_event(name: Any, schema: Any, kind: str = "Event") -> None:
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"Event names must be non-empty strings, got {name!r}")
    if not isinstance(schema, dict):
        raise PlanError(
            f"{kind} '{name}': the schema must be a JSON object, got {json_type(schema)}"
        )
    cls = dialect_for(name, schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = pointer("", exc.path) or "the top level"
        raise PlanError(
            f"{kind} '{name}' has an invalid schema at {where}: {exc.message}"
        ) from None
    _check_refs(name, schema)


def _check_refs(name: str, schema: dict[str, Any]) -> None:
    """Reject $refs that jsonschema could only fail to resolve at validation time."""
    nodes = list(iter_schemas(schema))
    if any("$id" in node or "id" in node for node in nodes[1:]):
        # Embedded resources change the base URI of the refs below them;
        # rather than re-implement resolution, trust those schemas as is.
        return
    for node in nodes:
        ref = node.get("$ref")
        if not isinstance(ref, str):
            continue
        if not ref.startswith("#"):
            raise PlanError(
                f"Event '{name}': $ref {ref!r} points outside the schema; "
                "only '#/...' references are supported"
            )
        if (ref == "#" or ref.startswith("#/")) and not _resolves(schema, ref):
            raise PlanError(f"Event '{name}': $ref {ref!r} does not resolve within the schema")


def _resolves(document: Any, ref: str) -> bool:
    node = document
    for raw_part in unquote(ref[1:]).split("/")[1:]:
        part = raw_part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True
