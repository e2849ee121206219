"""A table of plan changes, each with its classification in both directions (old → new, then
new → old): the plan diff's own tests (tests/validation/test_plan_diff.py) and the client's
test against a running service (tests/client/test_lvd_micro.py) walk the same table."""

from __future__ import annotations

from typing import Any

B, A = "breaking", "additive"


def obj(properties: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties, **more}


def one(schema: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A plan of one event E with this schema."""
    return {"events": {"E": schema}, **top}


def prop(schema: dict[str, Any], **top: Any) -> dict[str, Any]:
    """A plan whose event E has one property p with this schema."""
    return one(obj({"p": schema}), **top)


P = "/events/E/properties/p"
FLAG = {"additional_properties": "flag"}
# (old plan, new plan, (rule, kind) old → new, (rule, kind) new → old, pointer, property)
CASES = [
    (
        {"events": {"E": obj({}), "F": obj({})}},
        {"events": {"E": obj({})}},
        ("event-removed", B),
        ("event-added", A),
        "/events/F",
        None,
    ),
    (
        {"events": {}},
        {"events": {}, "types": {"identify": obj({"email": {"type": "string"}})}},
        ("type-schema-added", B),
        ("type-schema-removed", A),
        "/types/identify",
        None,
    ),
    (
        one(obj({})),
        one(obj({}), unplanned_events="block"),
        ("unplanned-events-blocked", B),
        ("unplanned-events-flagged", A),
        "/unplanned_events",
        None,
    ),
    (
        one(obj({})),
        one(obj({}), additional_properties="flag"),
        ("additional-properties-flagged", B),
        ("additional-properties-allowed", A),
        "/additional_properties",
        None,
    ),
    (
        one(obj({"a": {"type": "string"}})),
        one(obj({"a": {"type": "string"}, "p": {"type": "string"}}, required=["p"])),
        ("required-added", B),
        ("property-removed", A),  # extra properties allowed: still sent, just not checked
        P,
        "p",
    ),
    (
        one(obj({"a": {"type": "string"}}), **FLAG),
        one(obj({"a": {"type": "string"}, "p": {"type": "string"}}), **FLAG),
        ("property-added", A),
        ("property-removed", B),  # extra properties flagged: events still sending it fail
        P,
        "p",
    ),
    (
        one(obj({"p": {"type": "string"}})),
        one(obj({"p": {"type": "string"}}, required=["p"])),
        ("required-added", B),
        ("required-removed", A),
        P,
        "p",
    ),
    (
        prop({"type": ["string", "null"]}),
        prop({"type": "string"}),
        ("type-narrowed", B),
        ("type-widened", A),
        f"{P}/type",
        "p",
    ),
    (
        prop({"type": "number"}),
        prop({"type": "integer"}),
        ("type-narrowed", B),
        ("type-widened", A),
        f"{P}/type",
        "p",
    ),
    (
        prop({"type": "string"}),
        prop({"type": "integer"}),
        ("type-narrowed", B),  # neither contains the other: breaking both ways
        ("type-narrowed", B),
        f"{P}/type",
        "p",
    ),
    (
        prop({"enum": ["a", "b", "c"]}),
        prop({"enum": ["a", "b"]}),
        ("enum-narrowed", B),
        ("enum-widened", A),
        f"{P}/enum",
        "p",
    ),
    (
        prop({"type": "string"}),
        prop({"type": "string", "const": "EUR"}),
        ("enum-narrowed", B),
        ("enum-widened", A),
        f"{P}/const",
        "p",
    ),
    (
        prop({"type": "string"}),
        prop({"type": "string", "pattern": "^[A-Z]{3}$"}),
        ("pattern-added", B),
        ("pattern-removed", A),
        f"{P}/pattern",
        "p",
    ),
    (
        prop({"type": "string", "pattern": "^[A-Z]+$"}),
        prop({"type": "string", "pattern": "^[A-Z]{3}$"}),
        ("pattern-changed", B),  # two regular expressions cannot be compared
        ("pattern-changed", B),
        f"{P}/pattern",
        "p",
    ),
    (
        prop({"type": "string"}),
        prop({"type": "string", "format": "email"}),
        ("format-added", B),
        ("format-removed", A),
        f"{P}/format",
        "p",
    ),
    (
        prop({"type": "number", "minimum": 0}),
        prop({"type": "number", "minimum": 1}),
        ("range-narrowed", B),
        ("range-widened", A),
        f"{P}/minimum",
        "p",
    ),
    (
        prop({"type": "number", "maximum": 10}),
        prop({"type": "number", "maximum": 5}),
        ("range-narrowed", B),
        ("range-widened", A),
        f"{P}/maximum",
        "p",
    ),
    (
        prop({"type": "number"}),
        prop({"type": "number", "exclusiveMaximum": 5}),
        ("range-narrowed", B),
        ("range-widened", A),
        f"{P}/exclusiveMaximum",
        "p",
    ),
    (
        prop({"type": "string", "maxLength": 10}),
        prop({"type": "string", "maxLength": 5}),
        ("length-narrowed", B),
        ("length-widened", A),
        f"{P}/maxLength",
        "p",
    ),
    (
        prop({"type": "string"}),
        prop({"type": "string", "minLength": 1}),
        ("length-narrowed", B),
        ("length-widened", A),
        f"{P}/minLength",
        "p",
    ),
    (
        prop({"type": "array", "minItems": 0}),
        prop({"type": "array", "minItems": 1}),
        ("item-count-narrowed", B),
        ("item-count-widened", A),
        f"{P}/minItems",
        "p",
    ),
    (
        prop({"type": "array", "maxItems": 9}),
        prop({"type": "array", "maxItems": 3}),
        ("item-count-narrowed", B),
        ("item-count-widened", A),
        f"{P}/maxItems",
        "p",
    ),
    (
        prop({"type": "object"}),
        prop({"type": "object", "maxProperties": 3}),
        ("property-count-narrowed", B),
        ("property-count-widened", A),
        f"{P}/maxProperties",
        "p",
    ),
    (
        prop({"type": "array"}),
        prop({"type": "array", "items": {"type": "string"}}),
        ("type-narrowed", B),  # no items: any element
        ("type-widened", A),
        f"{P}/items/type",
        "p[]",
    ),
    (
        prop({"type": "array", "items": obj({"sku": {"type": "string"}})}),
        prop({"type": "array", "items": obj({"sku": {"type": "string"}}, required=["sku"])}),
        ("required-added", B),
        ("required-removed", A),
        f"{P}/items/properties/sku",
        "p[].sku",
    ),
    (
        prop(obj({"city": {"type": "string", "maxLength": 80}})),
        prop(obj({"city": {"type": "string", "maxLength": 40}})),
        ("length-narrowed", B),
        ("length-widened", A),
        f"{P}/properties/city/maxLength",
        "p.city",
    ),
    (
        prop(obj({"city": {"type": "string"}})),
        prop(obj({"city": {"type": "string"}}, additionalProperties=False)),
        ("extra-properties-forbidden", B),
        ("extra-properties-allowed", A),
        f"{P}/additionalProperties",
        "p",
    ),
    (
        prop({"type": "string", "description": "Old words."}),
        prop({"type": "string", "description": "New words."}),
        ("documentation-changed", A),
        ("documentation-changed", A),
        f"{P}/description",
        "p",
    ),
    (
        one(obj({}, description="An event.")),
        one(obj({})),
        ("documentation-changed", A),
        ("documentation-changed", A),
        "/events/E/description",
        None,
    ),
    (
        prop({"type": "string"}),
        prop({"type": "string", "pii": True}),
        ("pii-allowed", A),  # personal data allowed: fewer findings
        ("pii-disallowed", B),
        f"{P}/pii",
        "p",
    ),
    (
        prop({"type": "integer", "multipleOf": 2}),
        prop({"type": "integer", "multipleOf": 4}),
        ("schema-changed", B),  # not compared rule by rule: taken as breaking
        ("schema-changed", B),
        f"{P}/multipleOf",
        "p",
    ),
    (
        {"events": {}, "types": {"identify": obj({"email": {"type": "string"}})}},
        {
            "events": {},
            "types": {"identify": obj({"email": {"type": "string"}}, required=["email"])},
        },
        ("required-added", B),
        ("required-removed", A),
        "/types/identify/properties/email",
        "email",
    ),
]
