"""Plan-level policies: additional_properties and unplanned_events."""

import pytest

from app.validation import compile_plan

from .helpers import check

NESTED = {
    "type": "object",
    "properties": {
        "user": {"type": "object", "properties": {"id": {"type": "integer"}}},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"sku": {"type": "string"}}},
        },
    },
}
NESTED_EXTRAS = {
    "user": {"id": 1, "nickname": "ada"},
    "items": [{"sku": "a"}, {"sku": "b", "color": "red"}],
    "campaign": "spring",
}


def test_schema_additional_properties_false_is_enforced_under_allow():
    schema = {"properties": {"a": {}}, "additionalProperties": False}
    verdict = check(schema, {"a": 1, "b": 2, "c/d": [3]})
    assert verdict.status == "invalid"
    assert verdict.violations == [
        {
            "path": "/properties/b",
            "rule": "additionalProperties",
            "expected": False,
            "actual": 2,
            "message": "b is not a declared property",
            "plan_version": 1,
        },
        {
            "path": "/properties/c~1d",
            "rule": "additionalProperties",
            "expected": False,
            "actual": [3],
            "message": "c/d is not a declared property",
            "plan_version": 1,
        },
    ]


def test_allow_policy_accepts_undeclared_properties_at_every_level():
    assert check(NESTED, NESTED_EXTRAS, additional_properties="allow").status == "valid"
    assert check(NESTED, NESTED_EXTRAS).status == "valid"  # allow is the default


def test_flag_policy_reports_every_undeclared_property_at_every_level():
    verdict = check(NESTED, NESTED_EXTRAS, additional_properties="flag")
    assert verdict.status == "invalid"
    assert [(v["path"], v["rule"], v["actual"]) for v in verdict.violations] == [
        ("/properties/campaign", "additionalProperties", "spring"),
        ("/properties/items/1/color", "additionalProperties", "red"),
        ("/properties/user/nickname", "additionalProperties", "ada"),
    ]


def test_flag_policy_accepts_declared_properties():
    payload = {"user": {"id": 1}, "items": [{"sku": "a"}]}
    assert check(NESTED, payload, additional_properties="flag").status == "valid"


def test_flag_policy_respects_an_explicit_additional_properties_schema():
    schema = {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}}
    assert check(schema, {"a": "x", "b": 1}, additional_properties="flag").status == "valid"
    v = check(schema, {"b": "x"}, additional_properties="flag").violations
    assert [(x["path"], x["rule"]) for x in v] == [("/properties/b", "type")]


def test_flag_policy_respects_explicit_additional_properties_true():
    schema = {"properties": {"a": {}}, "additionalProperties": True}
    assert check(schema, {"b": 1}, additional_properties="flag").status == "valid"


def test_flag_policy_lets_pattern_properties_declare_names():
    schema = {"properties": {"a": {}}, "patternProperties": {"^x_": {}}}
    assert check(schema, {"x_1": 1}, additional_properties="flag").status == "valid"
    v = check(schema, {"y": 1}, additional_properties="flag").violations
    assert [(x["path"], x["rule"]) for x in v] == [("/properties/y", "additionalProperties")]


def test_flag_policy_ignores_object_schemas_without_properties():
    assert (
        check({"type": "object"}, {"anything": 1}, additional_properties="flag").status == "valid"
    )


def test_flag_transform_does_not_touch_the_plan():
    compiled = compile_plan({"events": {"e": NESTED}, "additional_properties": "flag"}, version=1)
    assert compiled.plan.events["e"] == NESTED
    assert "additionalProperties" not in compiled.plan.events["e"]["properties"]["user"]


def test_unplanned_event_is_flagged_by_default():
    compiled = compile_plan({"events": {"known": {}}}, version=4)
    verdict = compiled.validate("mystery", {"whatever": 1})
    assert verdict.status == "unplanned"
    assert verdict.blocked is False
    assert verdict.violations == [
        {
            "path": "/eventName",
            "rule": "unplanned",
            "expected": None,
            "actual": "mystery",
            "message": "Event 'mystery' is not in the tracking plan",
            "plan_version": 4,
        }
    ]


def test_unplanned_event_is_blocked_under_block_policy():
    compiled = compile_plan({"events": {"known": {}}, "unplanned_events": "block"}, version=1)
    verdict = compiled.validate("mystery", {})
    assert (verdict.status, verdict.blocked) == ("unplanned", True)
    # Planned events are never blocked, even when invalid.
    assert compiled.validate("known", {}).blocked is False


def test_unplanned_event_properties_are_not_validated():
    compiled = compile_plan({"events": {"known": {"type": "object"}}}, version=1)
    verdict = compiled.validate("other", "not even an object")
    assert [v["rule"] for v in verdict.violations] == ["unplanned"]


def test_unplanned_name_pointer_is_configurable():
    compiled = compile_plan({"events": {}}, version=1)
    assert (
        compiled.validate("x", {}, name_pointer="/batch/3/event").violations[0]["path"]
        == "/batch/3/event"
    )


@pytest.mark.parametrize("name", ["purchase", "", "user_login"])
def test_empty_plan_treats_every_event_as_unplanned(name):
    verdict = compile_plan({"events": {}}, version=0).validate(name, {})
    assert (verdict.status, verdict.blocked) == ("unplanned", False)
