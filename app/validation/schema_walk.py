"""Keyword-aware traversal of JSON Schema documents.

Walking by keyword (rather than by every nested dict) matters because
``properties`` maps *property names* to schemas: a property literally named
``"properties"`` or ``"$ref"`` must not be mistaken for a keyword.
"""

import copy
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

# Keywords whose value is a single subschema (``items`` is handled separately
# because it is a schema or, before 2020-12, possibly a list of schemas).
_SINGLE = (
    "additionalProperties",
    "additionalItems",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "contentSchema",
)
LIST_KEYWORDS = ("allOf", "anyOf", "oneOf", "prefixItems")
# ``dependencies`` values may be schemas or lists of names; only schemas count.
MAP_KEYWORDS = (
    "properties",
    "patternProperties",
    "definitions",
    "$defs",
    "dependentSchemas",
    "dependencies",
)

# Semantically identical to ``false``. jsonschema drops the instance path for
# errors raised by a ``false`` subschema and leaves their keyword as None, so
# we swap it for a form that reports a precise path and a real keyword.
_FALSE_SCHEMA = {"not": {}}


def _slots(schema: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """Yield (container, key) for every immediate subschema of schema."""
    for keyword in _SINGLE:
        if keyword in schema:
            yield schema, keyword
    if "items" in schema:
        items = schema["items"]
        if isinstance(items, list):
            yield from ((items, i) for i in range(len(items)))
        else:
            yield schema, "items"
    for keyword in LIST_KEYWORDS:
        value = schema.get(keyword)
        if isinstance(value, list):
            yield from ((value, i) for i in range(len(value)))
    for keyword in MAP_KEYWORDS:
        value = schema.get(keyword)
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(sub, (dict, bool)):
                    yield value, key


def subschemas(schema: dict[str, Any]) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Yield (path from schema, subschema) for every immediate subschema of schema."""
    for keyword in _SINGLE:
        if keyword in schema:
            yield (keyword,), schema[keyword]
    if "items" in schema:
        items = schema["items"]
        if isinstance(items, list):
            yield from ((("items", i), sub) for i, sub in enumerate(items))
        else:
            yield ("items",), items
    for keyword in LIST_KEYWORDS:
        value = schema.get(keyword)
        if isinstance(value, list):
            yield from (((keyword, i), sub) for i, sub in enumerate(value))
    for keyword in MAP_KEYWORDS:
        value = schema.get(keyword)
        if isinstance(value, dict):
            for key, sub in value.items():
                if isinstance(sub, (dict, bool)):
                    yield (keyword, key), sub


def iter_schemas(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield schema and every nested object subschema, depth first."""
    yield schema
    for container, key in _slots(schema):
        sub = container[key]
        if isinstance(sub, dict):
            yield from iter_schemas(sub)


def prepare_schema(schema: dict[str, Any], forbid_additional: bool) -> dict[str, Any]:
    """Return a deep copy of schema ready for compilation.

    With forbid_additional, every subschema that declares ``properties`` and
    does not set ``additionalProperties`` gets ``additionalProperties: false``
    (the plan's ``additional_properties: flag`` policy). ``false`` subschemas
    are rewritten to ``{"not": {}}`` so their errors carry a path.
    """
    prepared = copy.deepcopy(schema)
    _prepare(prepared, forbid_additional)
    return prepared


def _prepare(node: dict[str, Any], forbid_additional: bool) -> None:
    if (
        forbid_additional
        and isinstance(node.get("properties"), dict)
        and "additionalProperties" not in node
    ):
        node["additionalProperties"] = False
    for container, key in list(_slots(node)):
        sub = container[key]
        # additionalProperties: false is reported per extra property by its
        # own keyword handler, which keeps paths, so it stays as is.
        if sub is False and not (container is node and key == "additionalProperties"):
            container[key] = copy.deepcopy(_FALSE_SCHEMA)
        elif isinstance(sub, dict):
            _prepare(sub, forbid_additional)


def resolve_ref(document: Any, ref: str) -> Any:
    """The node a local $ref ("#" or "#/...") names within `document`, found as jsonschema
    finds it (percent-decoded, then split on "/", "~1" and "~0" unescaped); None when it names
    none."""
    if ref != "#" and not ref.startswith("#/"):
        return None
    node = document
    for raw in unquote(ref[1:]).split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node
