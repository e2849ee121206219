"""An event's JSON Schema as rows of a form, and back.

Each row describes the schema at one path: `price`, `address.city` (a property of the object
`address`), `items[]` (the elements of the array `items`) and `items[].sku` (a property of those
elements). Parents a row needs but no row names are implied: `address.city` alone makes `address`
an object. Rows carry the keywords the plan editor offers (type, required, null allowed, enum,
pattern, min/max); a schema using anything else is edited as raw JSON instead.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .patterns import PatternError, compile_pattern

TYPES = ("string", "integer", "number", "boolean", "object", "array")
# min/max mean a different keyword for each type.
BOUNDS = {
    "string": ("minLength", "maxLength"),
    "integer": ("minimum", "maximum"),
    "number": ("minimum", "maximum"),
    "array": ("minItems", "maxItems"),
}
# Keywords an event's top level may carry besides its properties; they are kept as they are.
KEPT_AT_TOP = frozenset({"$schema", "$id", "title", "description", "additionalProperties"})
_ROW_KEYWORDS = frozenset(
    {"type", "properties", "required", "items", "enum", "pattern", "description", "pii"}
    | {keyword for pair in BOUNDS.values() for keyword in pair}
)
_NAME = re.compile(r"^[^.\[\]]+$")  # a property name a path can spell


class NotFormEditable(ValueError):
    """The schema uses something the form cannot show; the message says what."""


@dataclass
class PropertyRow:
    """The schema at one path, as the form shows it."""

    path: str
    type: str = "string"
    required: bool = False
    nullable: bool = False
    enum: list[Any] | None = None
    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    description: str | None = None
    pii: bool = False  # may hold personal data ("pii": true, app/validation/pii.py)


def schema_to_rows(schema: dict[str, Any]) -> list[PropertyRow]:
    """The rows of an event schema (an object's properties, depth first, in name order)."""
    unknown = set(schema) - KEPT_AT_TOP - {"type", "properties", "required"}
    if unknown:
        raise NotFormEditable(f"the event uses {', '.join(sorted(unknown))}")
    if schema.get("type", "object") != "object":
        raise NotFormEditable("the event's properties are not an object")
    rows: list[PropertyRow] = []
    _object_rows(schema, "", rows)
    return rows


def _object_rows(schema: dict[str, Any], prefix: str, rows: list[PropertyRow]) -> None:
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        raise NotFormEditable(f"{prefix or 'the event'}: properties or required is malformed")
    for name in required:
        if name not in properties:
            raise NotFormEditable(f"required {name!r} has no schema")
    for name in sorted(properties):
        if not _NAME.match(name):
            raise NotFormEditable(f"the property name {name!r} cannot be written as a path")
        path = f"{prefix}{name}"
        _node_rows(properties[name], path, name in required, rows)


def _node_rows(node: Any, path: str, required: bool, rows: list[PropertyRow]) -> None:
    if not isinstance(node, dict):
        raise NotFormEditable(f"{path}: the schema is not an object")
    unknown = set(node) - _ROW_KEYWORDS
    if unknown:
        raise NotFormEditable(f"{path} uses {', '.join(sorted(unknown))}")
    kind, nullable = _type_of(node.get("type"), path)
    low_key, high_key = BOUNDS.get(kind, (None, None))
    bounds = {k for k in node if k in _ROW_KEYWORDS and k.startswith(("min", "max"))}
    if bounds - {low_key, high_key}:
        raise NotFormEditable(f"{path}: {', '.join(sorted(bounds))} do not fit type {kind}")
    if "properties" in node and kind != "object" or "items" in node and kind != "array":
        raise NotFormEditable(f"{path}: properties or items do not fit type {kind}")
    enum = node.get("enum")
    if enum is not None and not isinstance(enum, list):
        raise NotFormEditable(f"{path}: enum is not a list")
    if not isinstance(node.get("pii", False), bool):
        raise NotFormEditable(f"{path}: pii is not true or false")
    rows.append(
        PropertyRow(
            path=path,
            type=kind,
            required=required,
            nullable=nullable,
            enum=None if enum is None else [v for v in enum if v is not None],
            pattern=node.get("pattern"),
            minimum=node.get(low_key) if low_key else None,
            maximum=node.get(high_key) if high_key else None,
            description=node.get("description"),
            pii=node.get("pii") is True,
        )
    )
    if kind == "object":
        _object_rows(node, f"{path}.", rows)
    elif kind == "array" and "items" in node:
        _node_rows(node["items"], f"{path}[]", False, rows)


def _type_of(value: Any, path: str) -> tuple[str, bool]:
    """The row's type and whether null is allowed besides it."""
    kinds = value if isinstance(value, list) else [value]
    nullable = "null" in kinds
    rest = [k for k in kinds if k != "null"]
    if len(rest) != 1 or rest[0] not in TYPES:
        raise NotFormEditable(f"{path}: type {json.dumps(value)} is not one of the form's types")
    return rest[0], nullable


def rows_to_schema(rows: list[PropertyRow], kept: dict[str, Any] | None = None) -> dict[str, Any]:
    """The event schema the rows describe; `kept` holds top-level keywords to carry over.

    Raises ValueError naming the row at fault (a path that cannot be spelled, a property under a
    non-object, two rows for one path, bounds that are not numbers or are crossed).
    """
    root: dict[str, Any] = {
        **{k: v for k, v in (kept or {}).items() if k in KEPT_AT_TOP},
        "type": "object",
        "properties": {},
    }
    seen: set[str] = set()
    # Parents before children (a stable sort by depth keeps the form's order within a depth),
    # so a child finds its parent's node, explicit or implied, already in place.
    for row in sorted(rows, key=lambda r: len(_split(r.path))):
        if row.path in seen:
            raise ValueError(f"{row.path}: two rows describe the same path")
        seen.add(row.path)
        parent, last = _parent(root, _split(row.path), row.path)
        if last == "[]":
            parent["items"] = _node(row)
        else:
            parent["properties"][last] = _node(row)
            if row.required:
                parent.setdefault("required", []).append(last)
    _tidy(root)
    return root


def _split(path: str) -> list[str]:
    """`items[].sku` → ["items", "[]", "sku"]; ValueError for a path the form cannot mean."""
    parts: list[str] = []
    for segment in path.strip().split("."):
        # Count the trailing "[]" by hand: a regex with a lazy prefix is quadratic here.
        end = len(segment)
        while end >= 2 and segment.startswith("[]", end - 2):
            end -= 2
        name = segment[:end]
        if not _NAME.match(name):
            raise ValueError(f"{path!r} is not a property path (like price, a.b or items[].sku)")
        parts.append(name)
        parts.extend(["[]"] * ((len(segment) - end) // 2))
    return parts


def _parent(root: dict[str, Any], parts: list[str], path: str) -> tuple[dict[str, Any], str]:
    """The schema node that holds the path's last part, making implied parents on the way."""
    node = root
    for part, after in zip(parts, parts[1:], strict=False):
        if part == "[]":
            node = node.setdefault("items", {})
        else:
            node = node["properties"].setdefault(part, {})
        wanted = "array" if after == "[]" else "object"
        node.setdefault("type", wanted)
        if _base_type(node["type"]) != wanted:
            found = _base_type(node["type"])
            raise ValueError(f"{path}: its parent is of type {found}, not {wanted}")
        if wanted == "object":
            node.setdefault("properties", {})
    return node, parts[-1]


def _base_type(value: Any) -> Any:
    return next((k for k in value if k != "null"), None) if isinstance(value, list) else value


def _node(row: PropertyRow) -> dict[str, Any]:
    if row.type not in TYPES:
        raise ValueError(f"{row.path}: type must be one of {', '.join(TYPES)}")
    node: dict[str, Any] = {"type": [row.type, "null"] if row.nullable else row.type}
    if row.description:
        node["description"] = row.description
    if row.pii:
        node["pii"] = True
    if row.type == "object":
        node["properties"] = {}
    if row.enum:
        node["enum"] = list(row.enum) + ([None] if row.nullable else [])
    if row.pattern:
        if row.type != "string":
            raise ValueError(f"{row.path}: a pattern applies to strings")
        try:
            compile_pattern(row.pattern)
        except PatternError as exc:
            raise ValueError(f"{row.path}: the pattern cannot be used: {exc}")
        node["pattern"] = row.pattern
    low_key, high_key = BOUNDS.get(row.type, (None, None))
    if low_key is None and (row.minimum is not None or row.maximum is not None):
        raise ValueError(f"{row.path}: min and max apply to strings, numbers and arrays")
    counts = low_key not in ("minimum", None)  # a length or a number of items
    for key, value in ((low_key, row.minimum), (high_key, row.maximum)):
        if value is None:
            continue
        if counts or row.type == "integer":
            if value != int(value) or counts and value < 0:
                raise ValueError(f"{row.path}: {key} must be a whole number" + " ≥ 0" * counts)
            value = int(value)
        node[key] = value
    if row.minimum is not None and row.maximum is not None and row.minimum > row.maximum:
        raise ValueError(f"{row.path}: min is greater than max")
    return node


def _tidy(node: dict[str, Any]) -> None:
    """Sort required lists and drop empty ones (the schema reads the same as it is written)."""
    if "required" in node:
        node["required"] = sorted(set(node["required"]))
    for child in node.get("properties", {}).values():
        _tidy(child)
    if isinstance(node.get("items"), dict):
        _tidy(node["items"])
