"""What an event can do against a plan that allows it: no quadratic `uniqueItems`, no answer
larger than a bound however big the plan's `enum`, no OverflowError from `multipleOf`."""

from __future__ import annotations

import json

import pytest

from app.validation import compile_plan
from app.validation.violations import MAX_VIOLATIONS, SHOWN_CHARS, SHOWN_ITEMS, TRUNCATED_RULE


def _plan(schema: dict) -> object:
    return compile_plan({"events": {"e": {"type": "object", "properties": {"a": schema}}}}, 1)


UNIQUE = _plan({"type": "array", "uniqueItems": True})


@pytest.mark.timeout(60)  # pairwise comparison took ~40 s here: a hang is the failure
def test_unique_items_judges_a_large_array_of_objects():
    distinct = [{"a": k, "b": [k, str(k)]} for k in range(6_000)]
    assert UNIQUE.validate("e", {"a": distinct}).status == "valid"
    again = [*distinct, {"b": [5, "5"], "a": 5.0}]  # item 5, keys in another order, 5.0 for 5
    (violation,) = UNIQUE.validate("e", {"a": again}).violations
    assert violation["rule"] == "uniqueItems"
    assert violation["message"] == "a has non-unique elements: [5] and [6000]"


@pytest.mark.parametrize(
    "items,unique",
    [
        ([1, 1.0], False),
        ([True, 1], True),
        ([False, 0], True),
        ([None, 0, "", [], {}], True),
        ([{"x": 1, "y": 2}, {"y": 2, "x": 1.0}], False),
        ([[1, 2], [2, 1]], True),
        ([[1, [True]], [1.0, [True]]], False),
        ([[1, [True]], [1, [1]]], True),
        ([{"x": [1]}, {"x": [1, 1]}], True),
        (["1", 1], True),
        ([10**30, 1e30], True),  # 1e30 is not exactly 10**30
        ([2**53, float(2**53)], False),
    ],
)
def test_unique_items_uses_json_equality(items, unique):
    assert (UNIQUE.validate("e", {"a": items}).status == "valid") is unique


def test_a_violation_of_a_huge_enum_is_small_and_violations_are_capped():
    values = [f"v{i:05d}" for i in range(20_000)]
    plan = _plan({"type": "array", "items": {"enum": values}})
    violations = plan.validate("e", {"a": ["zz"] * 200}).violations
    assert len(violations) == MAX_VIOLATIONS + 1
    listed, summary = violations[:-1], violations[-1]
    assert listed[0]["expected"] == {"type": "array", "size": 20_000, "first": values[:20]}
    assert listed[0]["actual"] == "zz" and len(listed[0]["message"]) < 400
    assert summary["rule"] == TRUNCATED_RULE and summary["path"] == "/properties"
    assert (summary["expected"], summary["actual"]) == (MAX_VIOLATIONS, 100)
    assert summary["message"].startswith("100 more violations not listed")
    assert len(json.dumps(violations)) < 100_000  # was 84 MB


def test_an_enum_with_numbers_keeps_json_equality():
    plan = _plan({"enum": [1, "x", {"k": [2]}]})
    for good in (1, 1.0, "x", {"k": [2.0]}):
        assert plan.validate("e", {"a": good}).status == "valid", good
    for bad in (True, "1", {"k": [2, 2]}, [1]):
        assert plan.validate("e", {"a": bad}).status == "invalid", bad


def test_big_expected_and_actual_values_are_shown_shortened():
    plan = _plan({"type": "integer"})
    text = "x" * 10_000
    (violation,) = plan.validate("e", {"a": text}).violations
    assert violation["actual"] == "x" * SHOWN_CHARS + "…"
    (violation,) = plan.validate("e", {"a": {f"k{i}": i for i in range(500)}}).violations
    assert violation["actual"] == {"type": "object", "size": 500}
    (violation,) = plan.validate("e", {"a": [text, *range(999)]}).violations
    assert violation["actual"] == {
        "type": "array",
        "size": 1_000,
        "first": ["x" * SHOWN_CHARS + "…", *range(SHOWN_ITEMS - 1)],
    }
    small = {"list": [1, 2, 3], "text": "short"}
    assert plan.validate("e", {"a": small}).violations[0]["actual"] == small


@pytest.mark.parametrize("divisor", [0.01, 0.03, 7])
def test_multiple_of_judges_huge_numbers_exactly(divisor):
    plan = _plan({"type": "number", "multipleOf": divisor})
    nines = int("9" * 400)  # a multiple of 0.01, 0.03 (3/100) and not of 7
    expected = "invalid" if divisor == 7 else "valid"
    assert plan.validate("e", {"a": nines}).status == expected
    assert plan.validate("e", {"a": nines + 1}).status == (
        "valid" if divisor == 0.01 else "invalid"
    )
    assert plan.validate("e", {"a": 1e30}).status == ("valid" if divisor == 0.01 else "invalid")
    assert plan.validate("e", {"a": 21e30}).status == "valid"  # 21e30 / (3/100) = 7e32


def test_multiple_of_takes_numbers_at_their_decimal_value():
    plan = _plan({"type": "number", "multipleOf": 0.01})
    for good in (0.07, 12.34, 1.1, 5, 0):
        assert plan.validate("e", {"a": good}).status == "valid", good
    for bad in (1.005, 0.001, 1e-300):
        assert plan.validate("e", {"a": bad}).status == "invalid", bad
