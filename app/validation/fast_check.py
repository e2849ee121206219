"""A compiled yes/no check in front of jsonschema, for schemas both judge alike.

jsonschema walks a schema per event (~45 µs for a small one here); fastjsonschema compiles it to
Python code (~3 µs) but stops at the first error, and differs from jsonschema on a few points.
So an event it passes is valid, and any other event is judged by jsonschema, which lists every
violation. Schemas on which the two could disagree get no fast check at all:
- `format`: each library has its own format rules;
- `enum`/`const` with numbers or booleans: Python's `True == 1` lets fastjsonschema match them;
- `uniqueItems`: the same, for items;
- `multipleOf`: fastjsonschema divides a float by an integer as floats (1e30 passes as a
  multiple of 7), decimals at 28 digits, and an integer by a float as floats (OverflowError on a
  400-digit integer); jsonschema's dialects here (dialects.py) divide exactly;
- `$ref` outside the schema: fastjsonschema would fetch it;
- drafts after 7, which fastjsonschema does not know;
- `patternProperties` beside `required` names it does not declare: fastjsonschema would match
  them with Python's `re` while compiling.
fastjsonschema compiles `pattern` and `patternProperties` with Python's `re`; the compiled check
gets RE2 (patterns.py) in their place, so both sides judge patterns with the same linear-time
engine. tests/validation/test_fast_check.py compares both on many events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator

from .patterns import PatternError, compile_pattern
from .schema_walk import iter_schemas

# The dialects fastjsonschema knows, by meta-schema (the classes judging patterns with RE2
# are made from these, so they share it).
_DRAFTS = frozenset(
    cls.META_SCHEMA["$schema"] for cls in (Draft4Validator, Draft6Validator, Draft7Validator)
)

Check = Callable[[Any], Any]


def fast_check(schema: dict[str, Any], dialect: type) -> Check | None:
    """A function raising fastjsonschema.JsonSchemaException for events it cannot pass, or
    None when this schema must always go to jsonschema."""
    draft = getattr(dialect, "META_SCHEMA", {}).get("$schema")
    if draft not in _DRAFTS or not _agrees(schema):
        return None
    try:
        check = fastjsonschema.compile({**schema, "$schema": draft}, use_formats=False)
    except Exception:  # anything fastjsonschema cannot compile goes to jsonschema
        return None
    return check if _on_re2(check, schema) else None


def _on_re2(check: Check, schema: dict[str, Any]) -> bool:
    """Swap the compiled check's Python regexes for RE2; False if that cannot be done."""
    regexes = getattr(check, "__globals__", {}).get("REGEX_PATTERNS")
    if not regexes:
        return True
    # fastjsonschema keys them by the schema's pattern text; anything else (a format's
    # regex, a later version's layout) is not ours to replace: no fast check then.
    ours = set()
    for node in iter_schemas(schema):
        if isinstance(node.get("pattern"), str):
            ours.add(node["pattern"])
        ours.update(node.get("patternProperties") or {})
    if not set(regexes) <= ours:
        return False
    try:
        for pattern in regexes:
            regexes[pattern] = compile_pattern(pattern)
    except PatternError:
        return False
    return True


def _agrees(node: Any) -> bool:
    if isinstance(node, list):
        return all(_agrees(item) for item in node)
    if not isinstance(node, dict):
        return True
    if "format" in node or "multipleOf" in node or node.get("uniqueItems"):
        return False
    names = node.get("patternProperties")
    declared = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    if names and any(name not in declared for name in node.get("required") or ()):
        return False
    for key in ("enum", "const"):
        if key in node and not _only_strings(node[key] if key == "enum" else [node[key]]):
            return False
    ref = node.get("$ref")
    if isinstance(ref, str) and not ref.startswith("#"):
        return False
    return all(_agrees(value) for key, value in node.items() if key not in ("enum", "const"))


def _only_strings(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, str) for v in values)
