import pytest

from app.validation import Plan, PlanError, parse_plan


def test_defaults_and_unknown_keys_are_kept():
    raw = {"events": {"a": {"type": "object"}}, "owner": "growth-team"}
    plan = parse_plan(raw)
    assert isinstance(plan, Plan)
    assert plan.events == {"a": {"type": "object"}}
    assert plan.unplanned_events == "flag"
    assert plan.additional_properties == "allow"
    assert plan.raw["owner"] == "growth-team"


def test_explicit_policies():
    plan = parse_plan({"events": {}, "unplanned_events": "block", "additional_properties": "flag"})
    assert (plan.unplanned_events, plan.additional_properties) == ("block", "flag")


def test_plan_is_a_copy_of_the_input():
    raw = {"events": {"a": {"type": "object"}}}
    plan = parse_plan(raw)
    raw["events"]["a"]["type"] = "string"
    assert plan.events["a"] == {"type": "object"}


def test_plan_is_frozen():
    plan = parse_plan({"events": {}})
    with pytest.raises(AttributeError):
        plan.unplanned_events = "block"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "culprit"),
    [
        ([], "JSON object, got array"),
        (None, "JSON object, got null"),
        ({}, "'events'"),
        ({"events": []}, "'events' must be an object"),
        ({"events": {"": {}}}, "non-empty"),
        ({"events": {"   ": {}}}, "non-empty"),
        ({"events": {"purchase": "nope"}}, "Event 'purchase'"),
        ({"events": {"purchase": True}}, "Event 'purchase'"),
        (
            {"events": {"purchase": {"type": "integr"}}},
            "Event 'purchase' has an invalid schema at /type",
        ),
        (
            {"events": {"purchase": {"properties": {"price": {"minimum": "zero"}}}}},
            "Event 'purchase' has an invalid schema at /properties/price/minimum",
        ),
        (
            {"events": {"purchase": {"properties": {"c": {"pattern": "[A-"}}}}},
            "Event 'purchase'",
        ),
        ({"events": {"purchase": {"required": "price"}}}, "at /required"),
        (
            {"events": {"e": {"$schema": "https://example.com/my-dialect"}}},
            "unknown $schema",
        ),
        ({"events": {"e": {"$schema": 7}}}, "$schema must be a string"),
        (
            {"events": {"e": {"$ref": "#/definitions/missing"}}},
            "Event 'e': $ref '#/definitions/missing'",
        ),
        (
            {"events": {"e": {"$ref": "https://example.com/s.json"}}},
            "points outside the schema",
        ),
        (
            {"events": {}, "unplanned_events": "drop"},
            "'unplanned_events' must be 'flag' or 'block', got 'drop'",
        ),
        ({"events": {}, "unplanned_events": None}, "'unplanned_events'"),
        (
            {"events": {}, "additional_properties": "block"},
            "'additional_properties' must be 'allow' or 'flag'",
        ),
    ],
)
def test_malformed_plans_raise_plan_error_naming_the_culprit(raw, culprit):
    with pytest.raises(PlanError) as info:
        parse_plan(raw)
    assert culprit in str(info.value)


def test_plan_error_is_a_value_error():
    assert issubclass(PlanError, ValueError)


def test_local_refs_that_resolve_are_accepted():
    schema = {
        "definitions": {"money": {"type": "number"}, "a/b": {"type": "string"}},
        "properties": {
            "price": {"$ref": "#/definitions/money"},
            "x": {"$ref": "#/definitions/a~1b"},
        },
    }
    assert parse_plan({"events": {"e": schema}}).events["e"] == schema


def test_property_named_like_a_keyword_is_not_mistaken_for_one():
    # "$ref" here is a property name, not a reference.
    schema = {"properties": {"$ref": {"type": "string"}, "properties": {"type": "object"}}}
    # Taken as a reference, {"type": "string"} would be refused (a reference is a string).
    assert parse_plan({"events": {"e": schema}}).events["e"] == schema


def test_later_draft_schema_is_checked_with_its_own_metaschema():
    # prefixItems must be an array in 2020-12; draft-07 would ignore the keyword.
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "prefixItems": {"type": "string"},
    }
    with pytest.raises(PlanError, match="at /prefixItems"):
        parse_plan({"events": {"e": schema}})
    parse_plan({"events": {"e": {"prefixItems": {"type": "string"}}}})


def test_an_event_name_longer_than_the_events_column_is_refused_at_save():
    """events.event_name holds 255 characters: a longer planned name could never match."""
    assert parse_plan({"events": {"e" * 255: {"type": "object"}}}).events
    long_name = "checkout_" + "x" * 247  # 256 characters
    with pytest.raises(PlanError, match="checkout_x+….* 256 characters.*at most 255"):
        parse_plan({"events": {long_name: {"type": "object"}}})
    # Versions stored before the cap still load.
    assert parse_plan({"events": {long_name: {"type": "object"}}}, saving=False).events


def test_a_chain_of_refs_longer_than_the_nesting_cap_is_refused_when_saved():
    # An outside tester's plan chained 400 $refs: it saved, then every event of it was judged
    # invalid ("recursed too deep") and its code generation failed.
    def chained(length: int) -> dict:
        definitions = {f"D{i}": {"$ref": f"#/definitions/D{i + 1}"} for i in range(length)}
        definitions[f"D{length}"] = {"type": "integer"}
        return {"properties": {"d": {"$ref": "#/definitions/D0"}}, "definitions": definitions}

    parse_plan({"events": {"e": chained(60)}})  # long, but within the cap
    with pytest.raises(PlanError, match="'#/definitions/D0' starts a chain of more than 64"):
        parse_plan({"events": {"e": chained(400)}})
    # A circle is no chain: saving refuses it as a schema referring to itself without end.
    circle = {
        "definitions": {"A": {"$ref": "#/definitions/B"}, "B": {"$ref": "#/definitions/A"}},
        "properties": {"x": {"$ref": "#/definitions/A"}},
    }
    parse_plan({"events": {"e": circle}})
    parse_plan({"events": {"e": chained(400)}}, saving=False)  # a stored plan loads as it is
