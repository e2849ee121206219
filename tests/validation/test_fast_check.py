"""The compiled fast check never passes an event jsonschema would reject, and is left out for
the schemas on which the two libraries differ."""

from __future__ import annotations

import random

import pytest
from jsonschema import Draft4Validator, Draft7Validator, Draft202012Validator

from app.validation import compile_plan
from app.validation.fast_check import fast_check
from app.validation.schema_walk import prepare_schema
from tests.helpers import DEMO_PLAN

SCHEMAS = [
    *DEMO_PLAN["events"].values(),
    {
        "type": "object",
        "properties": {
            "sku": {"type": "string", "pattern": "^[A-Z]{2}-\\d+$", "maxLength": 8},
            "qty": {"type": "integer", "minimum": 1, "maximum": 10},
            "price": {"type": "number", "exclusiveMinimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            "size": {"enum": ["S", "M", "L"]},
            "address": {
                "type": "object",
                "properties": {"city": {"type": "string", "minLength": 1}},
                "required": ["city"],
            },
        },
        "required": ["sku", "qty"],
    },
    {"type": "object", "properties": {"n": {"type": ["integer", "null"]}}, "minProperties": 1},
]
VALUES = [
    None, True, False, 0, 1, -1, 1.0, 2.5, 0.015, 10, 11, "", "S", "XL", "AB-12", "ab-12",
    "AB-123456", [], ["a"], ["a", "b", "c", "d"], [1], {}, {"city": ""}, {"city": "Oslo"},
    {"town": "Oslo"},
]  # fmt: skip
KEYS = ["sku", "qty", "price", "tags", "size", "address", "n", "userId", "method", "currency",
        "items", "screen_name", "extra"]  # fmt: skip


# A valid event per schema, which the random events start from and then change.
BASES = [
    {"userId": 1, "method": "email"},
    {"price": 1, "currency": "EUR", "items": [{"sku": "a", "quantity": 1}]},
    {"screen_name": "home"},
    {"sku": "AB-1", "qty": 1, "address": {"city": "Oslo"}},
    {"n": 1},
]


def _random_event(rng: random.Random, base: dict) -> dict:
    event = dict(base)
    for _ in range(rng.randint(0, 3)):
        key = rng.choice(KEYS + list(base))
        if rng.random() < 0.2:
            event.pop(key, None)
        else:
            event[key] = rng.choice(VALUES)
    return event


@pytest.mark.parametrize("forbid", [False, True])
@pytest.mark.parametrize("index", range(len(SCHEMAS)))
def test_the_fast_check_passes_only_what_jsonschema_passes(index, forbid):
    schema = prepare_schema(SCHEMAS[index], forbid)
    check = fast_check(schema, Draft7Validator)
    assert check is not None
    full = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    rng = random.Random(index)
    passed = 0
    for _ in range(3000):
        event = _random_event(rng, BASES[index])
        try:
            check(event)
        except Exception:
            continue
        passed += 1
        assert list(full.iter_errors(event)) == [], event
    assert passed > 100  # the check did pass events: this compared something


@pytest.mark.parametrize(
    "schema",
    [
        {"properties": {"at": {"type": "string", "format": "date-time"}}},
        {"properties": {"level": {"enum": [1, 2]}}},
        {"properties": {"on": {"const": True}}},
        {"properties": {"ids": {"type": "array", "uniqueItems": True}}},
        {"properties": {"n": {"type": "number", "multipleOf": 7}}},
        {"properties": {"x": {"$ref": "https://example.com/x.json"}}},
    ],
)
def test_schemas_the_libraries_judge_differently_get_no_fast_check(schema):
    assert fast_check(schema, Draft7Validator) is None


def test_drafts_fastjsonschema_does_not_know_get_no_fast_check():
    assert fast_check({"type": "object"}, Draft202012Validator) is None
    assert fast_check({"type": "object"}, Draft4Validator) is not None


def test_true_is_not_the_number_one_for_a_plan_either():
    plan = compile_plan({"events": {"e": {"properties": {"level": {"enum": [1]}}}}}, 1)
    assert plan.validate("e", {"level": True}).status == "invalid"
    assert plan.validate("e", {"level": 1}).status == "valid"
