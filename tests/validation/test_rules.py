"""Each JSON Schema rule maps to the right rule/path/expected/actual/message."""

import json

import pytest

from .helpers import DRAFT_2020_12, check, only_violation


def prop(subschema):
    return {"type": "object", "properties": {"x": subschema}}


@pytest.mark.parametrize(
    ("subschema", "value", "rule", "expected"),
    [
        ({"type": "integer"}, "9", "type", "integer"),
        ({"type": ["integer", "null"]}, "9", "type", ["integer", "null"]),
        ({"type": "integer"}, True, "type", "integer"),
        ({"enum": ["a", "b"]}, "c", "enum", ["a", "b"]),
        ({"const": 1}, 2, "const", 1),
        ({"pattern": "^[A-Z]{3}$"}, "usd", "pattern", "^[A-Z]{3}$"),
        ({"format": "date-time"}, "yesterday", "format", "date-time"),
        ({"format": "date-time"}, "2024-13-01T00:00:00Z", "format", "date-time"),
        ({"format": "email"}, "not-an-email", "format", "email"),
        ({"minimum": 0}, -1, "minimum", 0),
        ({"maximum": 10}, 10.5, "maximum", 10),
        ({"exclusiveMinimum": 0}, 0, "exclusiveMinimum", 0),
        ({"exclusiveMaximum": 10}, 10, "exclusiveMaximum", 10),
        ({"multipleOf": 5}, 7, "multipleOf", 5),
        ({"minLength": 2}, "a", "minLength", 2),
        ({"maxLength": 2}, "abc", "maxLength", 2),
        ({"minItems": 1}, [], "minItems", 1),
        ({"maxItems": 1}, [1, 2], "maxItems", 1),
        ({"uniqueItems": True}, [1, 1], "uniqueItems", True),
        ({"minProperties": 1}, {}, "minProperties", 1),
        ({"maxProperties": 1}, {"a": 1, "b": 2}, "maxProperties", 1),
        ({"contains": {"type": "string"}}, [1, 2], "contains", {"type": "string"}),
        ({"not": {"type": "string"}}, "s", "not", {"type": "string"}),
        (
            {"dependencies": {"card": ["cvv"]}},
            {"card": 1},
            "dependencies",
            {"card": ["cvv"]},
        ),
    ],
)
def test_rule_maps_to_violation(subschema, value, rule, expected):
    v = only_violation(prop(subschema), {"x": value})
    assert v["path"] == "/properties/x"
    assert v["rule"] == rule
    assert v["expected"] == expected
    assert v["actual"] == value
    assert v["message"]
    assert v["plan_version"] == 1


@pytest.mark.parametrize(
    ("subschema", "value"),
    [
        ({"format": "date-time"}, "2024-05-01T12:30:00Z"),
        ({"format": "date-time"}, "2024-05-01T12:30:00.123+02:00"),
        ({"format": "email"}, "ada@example.com"),
        ({"type": ["integer", "null"]}, None),
        ({"exclusiveMinimum": 0}, 0.001),
    ],
)
def test_values_that_satisfy_the_rule_are_valid(subschema, value):
    assert check(prop(subschema), {"x": value}).status == "valid"


@pytest.mark.parametrize(
    ("subschema", "value", "message"),
    [
        ({"type": "integer"}, "9", "x must be of type integer, got string"),
        (
            {"type": ["integer", "null"]},
            1.5,
            "x must be of type integer or null, got number",
        ),
        (
            {"enum": ["email", "google"]},
            "fb",
            'x must be one of "email", "google", got "fb"',
        ),
        (
            {"pattern": "^[A-Z]{3}$"},
            "usd",
            'x must match pattern ^[A-Z]{3}$, got "usd"',
        ),
        ({"minimum": 0}, -1, "x must be >= 0, got -1"),
        ({"maximum": 10}, 11, "x must be <= 10, got 11"),
        ({"exclusiveMinimum": 0}, 0, "x must be > 0, got 0"),
        ({"minLength": 3}, "ab", "x must be at least 3 characters long, got 2"),
        ({"maxLength": 1}, "ab", "x must be at most 1 characters long, got 2"),
        ({"minItems": 2}, [1], "x must have at least 2 items, got 1"),
        ({"format": "email"}, "nope", 'x must be a valid email, got "nope"'),
        ({"const": "a"}, "b", 'x must be "a", got "b"'),
    ],
)
def test_messages_are_human_sentences(subschema, value, message):
    assert only_violation(prop(subschema), {"x": value})["message"] == message


def test_draft4_exclusive_boolean_is_reflected_in_message():
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        **prop({"minimum": 0, "exclusiveMinimum": True}),
    }
    v = only_violation(schema, {"x": 0})
    assert (v["rule"], v["expected"], v["message"]) == (
        "minimum",
        0,
        "x must be > 0, got 0",
    )


def test_required_gives_one_violation_per_missing_property_at_its_own_path():
    schema = {
        "type": "object",
        "properties": {"userId": {}, "method": {}},
        "required": ["userId", "method", "ok"],
    }
    verdict = check(schema, {"ok": 1})
    assert verdict.status == "invalid"
    assert verdict.violations == [
        {
            "path": "/properties/method",
            "rule": "required",
            "expected": "present",
            "actual": None,
            "message": "method is required",
            "plan_version": 1,
        },
        {
            "path": "/properties/userId",
            "rule": "required",
            "expected": "present",
            "actual": None,
            "message": "userId is required",
            "plan_version": 1,
        },
    ]


def test_required_repeated_by_several_branches_is_reported_once():
    schema = {"allOf": [{"required": ["a"]}, {"required": ["a", "b"]}]}
    paths = [v["path"] for v in check(schema, {}).violations]
    assert paths == ["/properties/a", "/properties/b"]


def test_nested_object_and_array_paths_are_precise():
    schema = {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string"},
                        "meta": {"properties": {"tags": {"items": {"type": "string"}}}},
                    },
                    "required": ["sku"],
                },
            }
        },
    }
    items = [
        {"sku": "a"},
        {"sku": "b"},
        {"sku": 7},
        {},
        {"sku": "c", "meta": {"tags": ["ok", 3]}},
    ]
    verdict = check(schema, {"items": items})
    got = [(v["path"], v["rule"], v["actual"]) for v in verdict.violations]
    assert got == [
        ("/properties/items/2/sku", "type", 7),
        ("/properties/items/3/sku", "required", None),
        ("/properties/items/4/meta/tags/1", "type", 3),
    ]
    assert verdict.violations[0]["message"] == "items[2].sku must be of type string, got integer"


def test_property_names_with_tilde_and_slash_are_escaped():
    schema = {
        "properties": {
            "a/b": {"type": "integer"},
            "m~n": {"type": "integer"},
            "~/": {"type": "integer"},
        }
    }
    verdict = check(schema, {"a/b": "x", "m~n": "x", "~/": "x"})
    assert sorted(v["path"] for v in verdict.violations) == [
        "/properties/a~1b",
        "/properties/m~0n",
        "/properties/~0~1",
    ]


def test_missing_property_name_is_escaped_too():
    v = only_violation({"required": ["a/b"]}, {})
    assert v["path"] == "/properties/a~1b"


def test_multiple_violations_are_sorted_by_path_then_rule():
    schema = {
        "properties": {
            "b": {"type": "integer"},
            "a": {"minLength": 5, "pattern": "^[0-9]+$"},
            "c": {"maximum": 1},
        },
        "required": ["z"],
    }
    verdict = check(schema, {"c": 2, "b": "no", "a": "ab"})
    assert [(v["path"], v["rule"]) for v in verdict.violations] == [
        ("/properties/a", "minLength"),
        ("/properties/a", "pattern"),
        ("/properties/b", "type"),
        ("/properties/c", "maximum"),
        ("/properties/z", "required"),
    ]


def test_root_level_type_error_uses_the_root_path():
    v = only_violation({"type": "object"}, ["not", "an", "object"])
    assert v["path"] == "/properties"
    assert v["message"] == "properties must be of type object, got array"


def test_custom_root():
    v = only_violation(prop({"type": "integer"}), {"x": "1"}, root="/data/props")
    assert v["path"] == "/data/props/x"
    assert only_violation(prop({"type": "integer"}), {"x": "1"}, root="")["path"] == "/x"


@pytest.mark.parametrize("combinator", ["oneOf", "anyOf"])
def test_combinators_report_a_single_violation(combinator):
    options = [
        {"type": "integer"},
        {"type": "string", "maxLength": 2},
        {"type": "array"},
    ]
    v = only_violation(prop({combinator: options}), {"x": "long string"})
    assert v["rule"] == combinator
    assert v["path"] == "/properties/x"
    assert v["expected"] == options
    assert v["actual"] == "long string"
    assert "closest mismatch" in v["message"]


def test_one_of_matching_several_branches():
    v = only_violation(prop({"oneOf": [{"type": "integer"}, {"minimum": 0}]}), {"x": 5})
    assert v["rule"] == "oneOf"
    assert "matches several" in v["message"]


def test_property_names_violation():
    v = only_violation(prop({"propertyNames": {"pattern": "^[a-z]+$"}}), {"x": {"ok": 1, "Bad": 2}})
    assert (v["path"], v["rule"], v["expected"], v["actual"]) == (
        "/properties/x",
        "propertyNames",
        {"pattern": "^[a-z]+$"},
        "Bad",
    )


def test_property_literally_named_property_names_is_not_confused():
    schema = {"properties": {"propertyNames": {"pattern": "^a"}}}
    v = only_violation(schema, {"propertyNames": "b"})
    assert (v["path"], v["rule"]) == ("/properties/propertyNames", "pattern")


def test_false_subschema_reports_path_and_rule():
    schema = {"properties": {"debug": False, "list": {"items": False}}}
    verdict = check(schema, {"debug": 1, "list": [1, 2]})
    assert [(v["path"], v["rule"]) for v in verdict.violations] == [
        ("/properties/debug", "not"),
        ("/properties/list/0", "not"),
        ("/properties/list/1", "not"),
    ]
    assert verdict.violations[0]["message"] == "debug is not allowed"


def test_ref_targets_report_the_referenced_rule():
    schema = {
        "definitions": {"money": {"type": "number", "minimum": 0}},
        "properties": {"price": {"$ref": "#/definitions/money"}},
    }
    v = only_violation(schema, {"price": -3})
    assert (v["path"], v["rule"], v["expected"]) == ("/properties/price", "minimum", 0)


def test_draft_2020_12_prefix_items_is_honoured():
    pair = {"properties": {"pt": {"prefixItems": [{"type": "number"}, {"type": "number"}]}}}
    v = only_violation({"$schema": DRAFT_2020_12, **pair}, {"pt": [1, "a"]})
    assert (v["path"], v["rule"], v["expected"]) == (
        "/properties/pt/1",
        "type",
        "number",
    )
    # Without $schema the plan is draft-07, where prefixItems is not a keyword.
    assert check(pair, {"pt": [1, "a"]}).status == "valid"


def test_draft_2020_12_dependent_required_is_honoured():
    schema = {"$schema": DRAFT_2020_12, "dependentRequired": {"card": ["cvv"]}}
    v = only_violation(schema, {"card": "4111"})
    assert (v["path"], v["rule"], v["expected"]) == (
        "/properties",
        "dependentRequired",
        {"card": ["cvv"]},
    )
    assert check(schema, {"card": "4111", "cvv": "123"}).status == "valid"
    assert check({"dependentRequired": {"card": ["cvv"]}}, {"card": "4111"}).status == "valid"


def test_violations_are_json_serialisable():
    schema = prop({"oneOf": [{"type": "integer"}, {"type": "string"}]})
    schema["required"] = ["y"]
    schema["additionalProperties"] = False
    verdict = check(schema, {"x": 1.5, "extra": {"nested": [1, None]}})
    assert len(verdict.violations) == 3
    json.dumps(verdict.to_dict(), allow_nan=False)
