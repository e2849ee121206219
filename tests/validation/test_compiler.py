"""compile_plan caching and the CompiledPlan / Verdict API."""

import copy
import dataclasses
import math

import pytest

import app.validation.compiler as compiler_module
from app.validation import CompiledPlan, PlanError, Verdict, compile_plan

PLAN = {
    "events": {
        "purchase": {
            "type": "object",
            "properties": {"price": {"type": "number"}},
            "required": ["price"],
        },
        "login": {"type": "object", "properties": {"userId": {"type": "integer"}}},
    },
    "unplanned_events": "flag",
}


def test_compile_plan_returns_a_compiled_plan():
    compiled = compile_plan(PLAN, version=3)
    assert isinstance(compiled, CompiledPlan)
    assert compiled.version == 3
    assert set(compiled.event_names) == {"purchase", "login"}
    assert isinstance(compiled.event_names, tuple)
    assert compiled.has_event("purchase") and not compiled.has_event("refund")


def test_equal_plans_share_one_compiled_object():
    reordered = {
        "unplanned_events": "flag",
        "events": dict(reversed(list(PLAN["events"].items()))),
    }
    assert compile_plan(PLAN, version=3) is compile_plan(reordered, version=3)
    assert compile_plan(copy.deepcopy(PLAN), version=3) is compile_plan(PLAN, version=3)


def test_new_version_or_new_plan_compiles_anew():
    first = compile_plan(PLAN, version=3)
    assert compile_plan(PLAN, version=4) is not first
    assert compile_plan(PLAN, version=4).version == 4
    changed = copy.deepcopy(PLAN)
    changed["events"]["refund"] = {}
    assert compile_plan(changed, version=3) is not first


def test_compiled_plan_is_isolated_from_later_mutation_of_the_input():
    plan = copy.deepcopy(PLAN)
    compiled = compile_plan(plan, version=99)
    plan["events"]["purchase"]["properties"]["price"]["type"] = "string"
    assert compiled.validate("purchase", {"price": 1.5}).status == "valid"


def test_validate_valid_and_invalid():
    compiled = compile_plan(PLAN, version=3)
    assert compiled.validate("purchase", {"price": 9.99}) == Verdict("valid", [], False)
    verdict = compiled.validate("purchase", {"price": "9"})
    assert verdict.status == "invalid"
    assert verdict.blocked is False
    assert verdict.violations[0]["path"] == "/properties/price"


def test_plan_version_is_filled_in_every_violation():
    compiled = compile_plan(PLAN, version=7)
    violations = (
        compiled.validate("login", {"userId": "a"}).violations
        + compiled.validate("nope", {}).violations
    )
    assert [v["plan_version"] for v in violations] == [7, 7]


def test_validate_schema_only():
    compiled = compile_plan(PLAN, version=3)
    assert compiled.validate_schema_only("purchase", {"price": 1}) == []
    assert [v["path"] for v in compiled.validate_schema_only("purchase", {}, root="/p")] == [
        "/p/price"
    ]
    with pytest.raises(KeyError):
        compiled.validate_schema_only("refund", {})


@pytest.mark.parametrize(
    "bad",
    [
        [],
        None,
        {"events": {"e": {"type": "nope"}}},
        {"events": {"e": {"minimum": math.nan}}},
    ],
)
def test_compile_plan_raises_plan_error_for_bad_plans(bad):
    with pytest.raises(PlanError):
        compile_plan(bad, version=1)


def test_compile_plan_rejects_non_json_data():
    with pytest.raises(PlanError):
        compile_plan({"events": {"e": {"enum": [object()]}}}, version=1)


@pytest.mark.parametrize("version", ["3", 3.0, True, None])
def test_compile_plan_requires_an_int_version(version):
    with pytest.raises(TypeError):
        compile_plan(PLAN, version=version)


def test_validate_does_no_compilation_or_copying(monkeypatch):
    compiled = compile_plan(PLAN, version=3)

    def forbidden(*args, **kwargs):
        raise AssertionError("called during validate")

    monkeypatch.setattr(copy, "deepcopy", forbidden)
    monkeypatch.setattr(compiler_module, "dialect_for", forbidden)
    monkeypatch.setattr(compiler_module, "prepare_schema", forbidden)
    monkeypatch.setattr(compiler_module, "parse_plan", forbidden)
    assert compiled.validate("purchase", {"price": 1}).status == "valid"
    assert compiled.validate("purchase", {"price": "1"}).status == "invalid"


def test_verdict_is_frozen_and_serialisable():
    verdict = compile_plan(PLAN, version=3).validate("purchase", {})
    with pytest.raises(dataclasses.FrozenInstanceError):
        verdict.status = "valid"  # type: ignore[misc]
    as_dict = verdict.to_dict()
    assert as_dict["status"] == "invalid" and as_dict["blocked"] is False
    assert as_dict["violations"] == verdict.violations
    assert verdict.ok is False and compile_plan(PLAN, version=3).validate("login", {}).ok is True


@pytest.mark.parametrize(
    "schema",
    [
        {"$ref": "#"},
        {"allOf": [{"$ref": "#"}]},
        {"not": {"anyOf": [{"$ref": "#"}]}},
        {"properties": {"a": {"type": "object"}}, "$ref": "#"},
    ],
)
def test_a_schema_that_refers_to_itself_without_end_is_found_and_judged_without_error(schema):
    compiled = compile_plan({"events": {"loop": schema, "fine": {"type": "object"}}}, 1)
    assert compiled.endless_events() == ["loop"]
    verdict = compiled.validate("loop", {"a": {}})
    assert verdict.status == "invalid"
    assert [v["rule"] for v in verdict.violations] == ["plan"]


def test_a_schema_that_refers_to_itself_through_a_property_is_fine():
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}}
    compiled = compile_plan({"events": {"tree": tree}}, 1)
    assert compiled.endless_events() == []
    assert compiled.validate("tree", {"child": {"child": {}}}).status == "valid"
    assert compiled.validate("tree", {"child": {"child": 3}}).status == "invalid"
