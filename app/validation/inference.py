"""Propose a draft-07 JSON Schema for an event's properties from the samples observed.

The proposal is conservative: it accepts every sample it was inferred from, and it states only
what a few samples can support, because a rule read off a few samples turns the next legitimate
value into a false violation (docs/inference.md lists the rules):

* Every number is ``number``, never ``integer``: 10, 11 and -3 say nothing against 19.99.
* A place where only ``null`` was seen gets no type (``{}``): null says nothing of the type.
* A property is ``required`` only when it was present in every one of at least
  ``MIN_REQUIRED_SAMPLES`` objects seen at its place.
* No enum, pattern, format, length or bound is guessed, and ``additionalProperties`` is not
  closed (the property cap leaves some names out, too).

A user narrows the draft by hand where they know better.
"""

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

# Schemas nested deeper than this many levels below the event's schema (each ``properties``
# entry or ``items`` is one level) are left out; the schema at the limit states its type only.
MAX_DEPTH = 8
# Per object, only the first names in sorted order are described (the rest are still allowed).
MAX_PROPERTIES = 200
# Fewer objects than this at one place make none of their properties required: two samples that
# both carry `coupon` are no evidence that every event will.
MIN_REQUIRED_SAMPLES = 20


class _Spot:
    """What was seen at one place in the samples: its types and, for containers, their parts."""

    __slots__ = ("types", "objects", "key_counts", "children", "items")

    def __init__(self) -> None:
        self.types: set[str] = set()
        self.objects = 0  # objects whose keys were counted (zero at the depth limit)
        self.key_counts: dict[str, int] = {}
        self.children: dict[str, _Spot] = {}
        self.items: _Spot | None = None  # stays None while every array seen was empty

    def observe(self, value: Any, depth: int) -> None:
        self.types.add(_json_type(value))
        if depth >= MAX_DEPTH:
            return
        if isinstance(value, dict):
            self._observe_object(value, depth)
        elif isinstance(value, list) and value:
            if self.items is None:
                self.items = _Spot()
            for element in value:
                self.items.observe(element, depth + 1)

    def _observe_object(self, value: dict[Any, Any], depth: int) -> None:
        for key in value:
            if not isinstance(key, str):
                raise TypeError(f"object key {key!r} is not a string")
        self.objects += 1
        # A name outside this object's first MAX_PROPERTIES can never be among the first
        # MAX_PROPERTIES of all objects seen here, so it is skipped before any work on it.
        keys = heapq.nsmallest(MAX_PROPERTIES, value) if len(value) > MAX_PROPERTIES else value
        for key in keys:
            self.key_counts[key] = self.key_counts.get(key, 0) + 1
            self.children.setdefault(key, _Spot()).observe(value[key], depth + 1)
        if len(self.children) > MAX_PROPERTIES:
            for key in sorted(self.children)[MAX_PROPERTIES:]:
                del self.children[key]
                del self.key_counts[key]

    def schema(self) -> dict[str, Any]:
        if self.types == {"null"}:
            return {}
        # Whole numbers seen so far do not make the next one whole: "integer" is never inferred.
        names = sorted({"number" if kind == "integer" else kind for kind in self.types})
        schema: dict[str, Any] = {"type": names[0] if len(names) == 1 else names}
        if self.objects:
            schema["properties"] = {
                key: self.children[key].schema() for key in sorted(self.children)
            }
            required = [
                key for key in sorted(self.key_counts) if self.key_counts[key] == self.objects
            ]
            if required and self.objects >= MIN_REQUIRED_SAMPLES:
                schema["required"] = required
        if self.items is not None:
            schema["items"] = self.items.schema()
        return schema


def _json_type(value: Any) -> str:
    # bool first: True is an int to Python but a boolean, not an integer, to JSON Schema.
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
    # Only list and dict: jsonschema treats a tuple as no array and would reject the sample.
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def infer_schema(samples: Iterable[Any]) -> dict[str, Any]:
    """Return an object schema that accepts every dict in samples (other samples are ignored)."""
    root = _Spot()
    for sample in samples:
        if isinstance(sample, dict):
            root.observe(sample, 0)
    if not root.objects:
        return {"type": "object", "properties": {}}
    return root.schema()


def infer_plan(observed: Mapping[str, Iterable[Any]]) -> dict[str, dict[str, Any]]:
    """Return infer_schema of each event's samples, keyed by event name in sorted order."""
    return {name: infer_schema(observed[name]) for name in sorted(observed)}
