"""A compiled yes/no check in front of jsonschema, for schemas both judge alike.

jsonschema walks a schema per event (~45 µs for a small one here); fastjsonschema compiles it to
Python code (~3 µs) but stops at the first error, and differs from jsonschema on a few points.
So an event it passes is valid, and any other event is judged by jsonschema, which lists every
violation. Schemas on which the two could disagree get no fast check at all:
- `format`: each library has its own format rules;
- `enum`/`const` with numbers or booleans: Python's `True == 1` lets fastjsonschema match them;
- `uniqueItems`: the same, for items;
- `$ref` outside the schema: fastjsonschema would fetch it;
- drafts after 7, which fastjsonschema does not know.
tests/validation/test_fast_check.py compares both on many events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import fastjsonschema
from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator

_DRAFTS = {
    Draft4Validator: "http://json-schema.org/draft-04/schema#",
    Draft6Validator: "http://json-schema.org/draft-06/schema#",
    Draft7Validator: "http://json-schema.org/draft-07/schema#",
}

Check = Callable[[Any], Any]


def fast_check(schema: dict[str, Any], dialect: type) -> Check | None:
    """A function raising fastjsonschema.JsonSchemaException for events it cannot pass, or
    None when this schema must always go to jsonschema."""
    draft = _DRAFTS.get(dialect)
    if draft is None or not _agrees(schema):
        return None
    try:
        return fastjsonschema.compile({**schema, "$schema": draft}, use_formats=False)
    except Exception:  # anything fastjsonschema cannot compile goes to jsonschema
        return None


def _agrees(node: Any) -> bool:
    if isinstance(node, list):
        return all(_agrees(item) for item in node)
    if not isinstance(node, dict):
        return True
    if "format" in node or node.get("uniqueItems"):
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
