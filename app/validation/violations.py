"""Turn jsonschema errors into the product's violation dicts.

One violation format is used everywhere::

    {"path": "/properties/price", "rule": "type", "expected": "integer",
     "actual": "9", "message": "price must be of type integer, got string",
     "plan_version": 3}

* ``path`` is an RFC 6901 JSON pointer rooted at the caller's ``root``.
* ``rule`` is the failing JSON Schema keyword, or ``unplanned``.
* ``expected`` is the keyword's value in the schema, with two exceptions:
  ``required`` uses ``"present"`` (the path names the missing property) and
  ``additionalProperties`` uses ``false`` (the path names the extra property).
* ``required`` and ``additionalProperties`` yield one violation per property.
* A property name rejected by ``propertyNames`` is reported as rule
  ``propertyNames`` at the object's path, ``expected`` being that subschema.
* ``oneOf``/``anyOf`` yield a single violation for the combinator itself; its
  message quotes jsonschema's best guess among the branch errors.

Bounds, so a small event against a large plan gets a small answer and a small stored row:

* at most ``MAX_VIOLATIONS`` per event, then one of rule ``truncated`` at ``root`` whose
  ``actual`` counts the ones not listed (only the first ``MAX_ERRORS`` errors are looked at at
  all: beyond, the count is a lower bound and the message says "at least");
* ``expected``/``actual`` as they are when small; otherwise strings cut to ``SHOWN_CHARS``
  characters plus "…", arrays longer than ``SHOWN_ITEMS`` as
  ``{"type": "array", "size": n, "first": [the first SHOWN_ITEMS]}``, objects with more keys as
  ``{"type": "object", "size": n}``, and values nested in those likewise shortened;
* messages list at most ``SHOWN_ITEMS`` enum values and are cut to ``MAX_MESSAGE`` characters.
"""

import json
from collections.abc import Iterable
from itertools import islice
from typing import Any

from jsonschema.exceptions import ValidationError, best_match

from .dialects import additional_properties
from .schema_walk import MAP_KEYWORDS

REQUIRED_EXPECTED = "present"
TRUNCATED_RULE = "truncated"
MAX_VIOLATIONS = 100
MAX_ERRORS = 1_000
SHOWN_ITEMS = 20
SHOWN_CHARS = 200
MAX_MESSAGE = 500
# What counts as small enough to show unchanged: characters of strings and names, one per other
# value; a nested value within an shortened one gets the smaller budget.
_SMALL = 2_000
_SMALL_NESTED = SHOWN_CHARS

_COMPARATORS = {
    "minimum": ">=",
    "maximum": "<=",
    "exclusiveMinimum": ">",
    "exclusiveMaximum": "<",
}


def json_type(value: Any) -> str:
    """Name the JSON type of a Python value (bool before int: bool is an int)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def escape_segment(segment: Any) -> str:
    """Escape one JSON pointer segment per RFC 6901 (~ first, then /)."""
    return str(segment).replace("~", "~0").replace("/", "~1")


def pointer(root: str, parts: Iterable[Any]) -> str:
    """Build a JSON pointer from root and raw (unescaped) path parts."""
    return root + "".join("/" + escape_segment(p) for p in parts)


def _label(root: str, parts: list[Any]) -> str:
    """Human name for a location, e.g. ``items[2].sku``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    if not out or out.startswith("["):
        # The root itself (or an array directly under it): name it by root.
        last = root.rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~")
        out = (last or "value") + out
    return out


def _show(value: Any) -> str:
    return json.dumps(shown(value), ensure_ascii=False, default=repr)


def shown(value: Any, budget: int = _SMALL) -> Any:
    """The value itself when small, else a bounded stand-in (see the module's docstring)."""
    if _within(value, budget):
        return value
    if isinstance(value, str):
        return value[:SHOWN_CHARS] + "…"
    if isinstance(value, (list, tuple)):
        first = [shown(item, _SMALL_NESTED) for item in value[:SHOWN_ITEMS]]
        if len(value) <= SHOWN_ITEMS:
            return first
        return {"type": "array", "size": len(value), "first": first}
    if isinstance(value, dict) and len(value) <= SHOWN_ITEMS:
        return {shown(k, _SMALL_NESTED): shown(v, _SMALL_NESTED) for k, v in value.items()}
    return {"type": json_type(value), "size": len(value)}


def _within(value: Any, budget: int) -> bool:
    """Whether value's strings, names and other values add up to at most budget (stops early)."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            budget -= len(node)
        elif isinstance(node, dict):
            budget -= sum(len(str(name)) for name in islice(node, budget + 1))
            stack.extend(islice(node.values(), budget + 1))
        elif isinstance(node, (list, tuple)):
            stack.extend(islice(node, budget + 1))
        else:
            budget -= 1
        if budget < 0:
            return False
    return True


def _violation(
    path: str, rule: str, expected: Any, actual: Any, message: str, version: int
) -> dict[str, Any]:
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + "…"
    return {
        "path": path,
        "rule": rule,
        "expected": shown(expected),
        "actual": shown(actual),
        "message": message,
        "plan_version": version,
    }


def unplanned_violation(event_name: str, name_pointer: str, plan_version: int) -> dict[str, Any]:
    """Build the single violation reported for an event missing from the plan."""
    return _violation(
        name_pointer,
        "unplanned",
        None,
        event_name,
        f"Event '{event_name}' is not in the tracking plan",
        plan_version,
    )


def violations_from_errors(
    errors: Iterable[ValidationError], root: str, plan_version: int
) -> list[dict[str, Any]]:
    """Convert jsonschema errors to violation dicts sorted by path, rule, message: at most
    MAX_VIOLATIONS of them, then one counting the rest."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    more = 0
    looked_at = 0
    # Stop pulling errors after MAX_ERRORS: each costs jsonschema work, so CPU stays bounded.
    for error in islice(errors, MAX_ERRORS):
        looked_at += 1
        for violation in _convert(error, root, plan_version):
            # The same missing/extra property can be reported by several
            # branches (e.g. allOf); report it once.
            if violation["rule"] in ("required", "additionalProperties"):
                key = (violation["path"], violation["rule"])
                if key in seen:
                    continue
                seen.add(key)
            if len(out) < MAX_VIOLATIONS:
                out.append(violation)
            else:
                more += 1
    out.sort(key=lambda v: (v["path"], v["rule"], v["message"]))
    if more:
        out.append(_truncated(root, more, looked_at == MAX_ERRORS, plan_version))
    return out


def _truncated(root: str, more: int, at_least: bool, version: int) -> dict[str, Any]:
    how_many = f"at least {more}" if at_least else str(more)
    return _violation(
        root,
        TRUNCATED_RULE,
        MAX_VIOLATIONS,
        more,
        f"{how_many} more violations not listed: only the first {MAX_VIOLATIONS} are kept",
        version,
    )


def _convert(error: ValidationError, root: str, version: int) -> Iterable[dict[str, Any]]:
    rule = error.validator
    parts = list(error.absolute_path)
    instance = error.instance
    expected = error.validator_value

    if rule == "required":
        # jsonschema's errors only carry the name inside a message string, so
        # recompute the missing names from the structured data instead.
        for name in expected:
            if name not in instance:
                where = parts + [name]
                yield _violation(
                    pointer(root, where),
                    "required",
                    REQUIRED_EXPECTED,
                    None,
                    f"{_label(root, where)} is required",
                    version,
                )
        return

    if rule == "additionalProperties" and expected is False:
        for name in sorted(_extra_properties(instance, error.schema)):
            where = parts + [name]
            yield _violation(
                pointer(root, where),
                "additionalProperties",
                False,
                instance[name],
                f"{_label(root, where)} is not a declared property",
                version,
            )
        return

    if rule is None:
        # A bare ``false`` subschema that prepare_schema did not rewrite.
        rule, expected = "false", False
    name = _label(root, parts)
    if _under_property_names(error.relative_schema_path):
        message = f"{name}: {_message(error, rule, 'property name')}"
        yield _violation(
            pointer(root, parts),
            "propertyNames",
            error.schema,
            instance,
            message,
            version,
        )
        return
    yield _violation(
        pointer(root, parts),
        rule,
        expected,
        instance,
        _message(error, rule, name),
        version,
    )


def _under_property_names(schema_path: Iterable[Any]) -> bool:
    """Whether the failing keyword sits directly in a propertyNames subschema."""
    # Schema paths mix keywords with property names and indexes; skip the
    # latter so a property literally named "propertyNames" is not a match.
    parts = list(schema_path)
    keywords = []
    i = 0
    while i < len(parts):
        keywords.append(parts[i])
        followed_by_name = parts[i] in MAP_KEYWORDS or (
            i + 1 < len(parts) and isinstance(parts[i + 1], int)
        )
        i += 2 if followed_by_name else 1
    return len(keywords) >= 2 and keywords[-2] == "propertyNames"


def _extra_properties(instance: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    # The same names the additionalProperties keyword found, matched by the same engine.
    return list(additional_properties(instance, schema))


def _message(error: ValidationError, rule: str, name: str) -> str:
    expected = error.validator_value
    actual = error.instance
    got = f"got {_show(actual)}"

    if rule == "type":
        types = expected if isinstance(expected, list) else [expected]
        return f"{name} must be of type {' or '.join(map(str, types))}, got {json_type(actual)}"
    if rule == "enum":
        values = ", ".join(map(_show, expected[:SHOWN_ITEMS]))
        if len(expected) > SHOWN_ITEMS:
            values += f" (or {len(expected) - SHOWN_ITEMS} more values)"
        return f"{name} must be one of {values}, {got}"
    if rule == "const":
        return f"{name} must be {_show(expected)}, {got}"
    if rule == "pattern":
        return f"{name} must match pattern {expected}, {got}"
    if rule == "format":
        return f"{name} must be a valid {expected}, {got}"
    if rule in _COMPARATORS:
        op = _COMPARATORS[rule]
        # Draft 4 spells exclusivity as a boolean beside minimum/maximum.
        if rule in ("minimum", "maximum") and error.schema.get("exclusiveM" + rule[1:]) is True:
            op = op[0]
        return f"{name} must be {op} {expected}, {got}"
    if rule in ("minLength", "maxLength"):
        bound = "at least" if rule == "minLength" else "at most"
        return f"{name} must be {bound} {expected} characters long, got {len(actual)}"
    if rule in ("minItems", "maxItems"):
        bound = "at least" if rule == "minItems" else "at most"
        return f"{name} must have {bound} {expected} items, got {len(actual)}"
    if rule == "uniqueItems":
        return f"{name} {error.message}"
    if rule in ("oneOf", "anyOf"):
        if not error.context:
            # oneOf with several matching branches carries no branch errors.
            return f"{name} must match exactly one of the allowed schemas, but matches several"
        quantity = "exactly one" if rule == "oneOf" else "at least one"
        best = best_match(error.context)
        return (
            f"{name} must match {quantity} of the allowed schemas "
            f"(closest mismatch: {best.message})"
        )
    if rule == "not" and expected == {}:
        return f"{name} is not allowed"
    return error.message
