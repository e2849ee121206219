"""Parse and check a tracking plan dict."""

import copy
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from .canonical import canonical_json, nests_deeper_than
from .dialects import linear_dialect, schema_format_checker
from .patterns import PatternError, compile_pattern
from .schema_walk import iter_schemas, resolve_ref, subschemas
from .violations import json_type, pointer

UNPLANNED_POLICIES = ("flag", "block")
ADDITIONAL_PROPERTIES_POLICIES = ("allow", "flag")
# SDK message types validated by type rather than by name: the schema of identify's and group's
# traits, page's properties, alias's {userId, previousId}. (track and screen go by event name.)
TYPED_MESSAGES = ("identify", "group", "page", "alias")

# Caps checked when a plan is saved (plans already stored load as they are). A plan is compiled
# in every process that ingests for its app, ~9 ms per KB of plan JSON here (fastjsonschema's
# code generation most of it): 256 KB (~1,000 events of ten properties) compiles in about 2 s.
MAX_PLAN_BYTES = 256 * 1024
# As deep as the ingestion API lets an event nest; far from Python's recursion limit, which
# copying and checking a schema would otherwise hit.
MAX_PLAN_DEPTH = 64
# Distinct patterns: each may take up to patterns.MAX_PATTERN_MEMORY (1 MiB) of RE2 memory.
MAX_PLAN_PATTERNS = 200
# The events table's event_name column (String(255)): a longer planned name could never match.
MAX_EVENT_NAME_CHARS = 255


class PlanError(ValueError):
    """A tracking plan is malformed; the message names the event or field at fault."""


class PlanTooLarge(PlanError):
    """A tracking plan is over a size cap (bytes, patterns)."""


@dataclass(frozen=True)
class Plan:
    """A checked tracking plan. raw keeps every top-level key, including unknown ones."""

    events: dict[str, dict[str, Any]]
    unplanned_events: str = "flag"
    additional_properties: str = "allow"
    raw: dict[str, Any] = field(default_factory=dict)
    types: dict[str, dict[str, Any]] = field(default_factory=dict)


def parse_plan(plan: Any, *, saving: bool = True) -> Plan:
    """Check a plan dict and return a Plan (of a deep copy); PlanError if malformed.

    saving (the default) also enforces what a new version must meet: the size caps and
    patterns the linear-time engine can run. Stored versions are loaded with saving=False.
    """
    if not isinstance(plan, dict):
        raise PlanError(f"The tracking plan must be a JSON object, got {json_type(plan)}")
    if nests_deeper_than(plan, MAX_PLAN_DEPTH):
        raise PlanError(f"The tracking plan nests deeper than {MAX_PLAN_DEPTH} levels")
    if saving:
        _check_size(plan)
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
        _check_event(name, schema, saving=saving)
    types = raw.get("types", {})
    if not isinstance(types, dict):
        raise PlanError(f"The tracking plan's 'types' must be an object, got {json_type(types)}")
    for name, schema in types.items():
        if name not in TYPED_MESSAGES:
            raise PlanError(f"'types' may hold {', '.join(TYPED_MESSAGES)}; not {name!r}")
        _check_event(name, schema, kind="Type", saving=saving)
    if saving:
        _check_pattern_count([*events.values(), *types.values()])
    return Plan(
        events=events,
        unplanned_events=_policy(raw, "unplanned_events", UNPLANNED_POLICIES),
        additional_properties=_policy(raw, "additional_properties", ADDITIONAL_PROPERTIES_POLICIES),
        raw=raw,
        types=types,
    )


def dialect_for(event_name: str, schema: dict[str, Any]) -> type[Validator]:
    """The validator class for the schema's $schema (draft-07 when absent; PlanError if
    unknown), judging regular expressions with the linear-time engine."""
    return linear_dialect(_base_dialect(event_name, schema))


def _base_dialect(event_name: str, schema: dict[str, Any]) -> type[Validator]:
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


def _check_event(name: Any, schema: Any, kind: str = "Event", saving: bool = True) -> None:
    if not isinstance(name, str) or not name.strip():
        raise PlanError(f"Event names must be non-empty strings, got {name!r}")
    if saving and len(name) > MAX_EVENT_NAME_CHARS:
        raise PlanError(
            f"{kind} '{name[:40]}…' has a name of {len(name)} characters; "
            f"event names are at most {MAX_EVENT_NAME_CHARS}"
        )
    if not isinstance(schema, dict):
        raise PlanError(
            f"{kind} '{name}': the schema must be a JSON object, got {json_type(schema)}"
        )
    base = _base_dialect(name, schema)
    try:
        base.check_schema(schema, format_checker=schema_format_checker(base))
    except SchemaError as exc:
        where = pointer("", exc.path) or "the top level"
        raise PlanError(
            f"{kind} '{name}' has an invalid schema at {where}: {exc.message}"
        ) from None
    _check_refs(name, schema)
    if saving:
        _check_patterns(f"{kind} '{name}'", schema)
        _check_ref_chains(f"{kind} '{name}'", schema)


def _check_patterns(owner: str, schema: dict[str, Any]) -> None:
    problem = linear_problem(schema)
    if problem is not None:
        raise PlanError(f"{owner}: {problem}")


def linear_problem(schema: dict[str, Any]) -> str | None:
    """Why the linear-time engine cannot judge this schema, or None when it can."""
    for where, pattern in _patterns(schema):
        try:
            compile_pattern(pattern)  # cached: compiling here warms the validators' cache
        except PatternError as exc:
            return f"the pattern {pattern!r} at {where} cannot be used: {exc}"
    nodes = list(iter_schemas(schema))
    if any("unevaluatedProperties" in n for n in nodes) and any(
        "patternProperties" in n for n in nodes
    ):
        # jsonschema matches patternProperties with Python's re inside unevaluatedProperties.
        return (
            "unevaluatedProperties cannot be combined with patternProperties "
            "(the linear-time engine does not reach inside unevaluatedProperties)"
        )
    return None


def _patterns(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """(JSON pointer, pattern) of every `pattern` and `patternProperties` name in schema."""
    found: list[tuple[str, str]] = []
    # Paths follow the same keyword-aware walk as iter_schemas, so a property called
    # "pattern" is a name, not a keyword.
    stack: list[tuple[str, Any]] = [("", schema)]
    while stack:
        where, node = stack.pop()
        if not isinstance(node, dict):
            continue
        if isinstance(node.get("pattern"), str):
            found.append((f"{where}/pattern", node["pattern"]))
        names = node.get("patternProperties")
        if isinstance(names, dict):
            found.extend((pointer(where, ("patternProperties", name)), name) for name in names)
        stack.extend((pointer(where, path), sub) for path, sub in subschemas(node))
    return found


def _check_pattern_count(schemas: list[dict[str, Any]]) -> None:
    distinct = {pattern for schema in schemas for _, pattern in _patterns(schema)}
    if len(distinct) > MAX_PLAN_PATTERNS:
        raise PlanTooLarge(
            f"The tracking plan uses {len(distinct)} distinct patterns; at most "
            f"{MAX_PLAN_PATTERNS} are allowed"
        )


def _check_size(plan: dict[str, Any]) -> None:
    try:
        size = len(canonical_json(plan).encode("utf-8"))
    except UnicodeEncodeError:  # neither database can store one
        raise PlanError("The tracking plan contains a lone surrogate (\\ud8xx).") from None
    except (TypeError, ValueError) as exc:
        raise PlanError(f"The tracking plan is not valid JSON data: {exc}") from None
    if size > MAX_PLAN_BYTES:
        raise PlanTooLarge(
            f"The tracking plan is {size // 1024} KB as JSON; at most "
            f"{MAX_PLAN_BYTES // 1024} KB are allowed"
        )


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
        if (ref == "#" or ref.startswith("#/")) and resolve_ref(schema, ref) is None:
            raise PlanError(f"Event '{name}': $ref {ref!r} does not resolve within the schema")


def _check_ref_chains(owner: str, schema: dict[str, Any]) -> None:
    """Refuse a $ref that leads to another $ref, and so on, more than MAX_PLAN_DEPTH times:
    judging an event would recurse that deep, and no schema needs it. (A circle of them is
    refused when the plan is saved, as a schema that refers to itself without end.)"""
    for node in iter_schemas(schema):
        hops, seen, start = 0, set(), node.get("$ref")
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if ref in seen:
                break
            if hops > MAX_PLAN_DEPTH:
                raise PlanError(
                    f"{owner}: $ref {start!r} starts a chain of more than {MAX_PLAN_DEPTH} $refs"
                )
            seen.add(ref)
            hops += 1
            node = resolve_ref(schema, ref)
