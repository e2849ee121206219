"""Plan lint rules (app/validation/plan_lint.py): each rule on a plan that breaks it (the finding,
its severity and JSON pointer) and on the nearest plan that keeps it (no finding of that rule);
naming conventions, the plan's "lint" settings, overrides, `ignore`, pointer escaping."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.validation import PlanError
from app.validation.plan_lint import CONVENTIONS, RULES, lint_plan
from tests.helpers import DEMO_PLAN


def prop(kind: str = "string", **more: Any) -> dict[str, Any]:
    """A described, typed property schema."""
    return {"type": kind, "description": "A property.", **more}


def event(properties: dict[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """A described event schema with these properties."""
    return {"description": "An event.", "type": "object", "properties": properties or {}, **more}


def plan(events: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"events": events, **top}


SNAKE = {"lint": {"property_names": "snake_case"}}
OBJECT_ACTION = {"lint": {"event_names": "Object Action"}}
# (rule, plan with the problem, pointer of the finding, the same plan without the problem)
CASES = [
    (
        "event-name-case",
        plan({"order_completed": event()}, **OBJECT_ACTION),
        "/events/order_completed",
        plan({"Order Completed": event()}, **OBJECT_ACTION),
    ),
    (
        "property-name-case",
        plan({"E": event({"userId": prop()})}, **SNAKE),
        "/events/E/properties/userId",
        plan({"E": event({"user_id": prop()})}, **SNAKE),
    ),
    (
        "property-name-case",  # in the elements of an array
        plan({"E": event({"items": prop("array", items=event({"skuCode": prop()}))})}, **SNAKE),
        "/events/E/properties/items/items/properties/skuCode",
        plan({"E": event({"items": prop("array", items=event({"sku_code": prop()}))})}, **SNAKE),
    ),
    (
        "name-whitespace",
        plan({"Order Completed ": event()}),
        "/events/Order Completed ",
        plan({"Order Completed": event()}),
    ),
    (
        "name-whitespace",
        plan({"E": event({" price": prop("number")})}),
        "/events/E/properties/ price",
        plan({"E": event({"price": prop("number")})}),
    ),
    (
        "event-name-collision",
        plan({"Order Completed": event(), "order_completed": event()}),
        "/events/order_completed",
        plan({"Order Completed": event(), "Order Cancelled": event()}),
    ),
    (
        "event-name-collision",  # camelCase against Title Case
        plan({"Order Completed": event(), "orderCompleted": event()}),
        "/events/orderCompleted",
        plan({"Order Completed": event(), "orderCancelled": event()}),
    ),
    (
        "property-name-collision",
        plan({"E": event({"userId": prop(), "user_id": prop()})}),
        "/events/E/properties/user_id",
        plan({"E": event({"userId": prop(), "user_ids": prop()})}),
    ),
    (
        "property-name-collision",  # in a nested object
        plan({"E": event({"a": prop("object", properties={"x-y": prop(), "X Y": prop()})})}),
        "/events/E/properties/a/properties/X Y",
        plan({"E": event({"a": prop("object", properties={"x-y": prop(), "X Z": prop()})})}),
    ),
    (
        "event-description-missing",
        plan({"E": {"type": "object", "properties": {}}}),
        "/events/E",
        plan({"E": event()}),
    ),
    (
        "event-description-missing",  # only spaces
        plan({"E": {"description": "  ", "type": "object"}}),
        "/events/E",
        plan({"E": {"description": "Said.", "type": "object"}}),
    ),
    (
        "property-description-missing",
        plan({"E": event({"a": prop("object", properties={"b": {"type": "string"}})})}),
        "/events/E/properties/a/properties/b",
        plan({"E": event({"a": prop("object", properties={"b": prop()})})}),
    ),
    (
        "property-type-missing",
        plan({"E": event({"price": {"description": "Any value."}})}),
        "/events/E/properties/price",
        plan({"E": event({"price": {"description": "Some.", "enum": ["a", 1]}})}),
    ),
    (
        "property-type-missing",  # true: anything
        plan({"E": event({"price": True})}),
        "/events/E/properties/price",
        plan({"E": event({"price": False})}),  # forbidden: nothing to type
    ),
    (
        "property-type-missing",  # the elements of an array
        plan({"E": event({"tags": prop("array", items={})})}),
        "/events/E/properties/tags/items",
        plan({"E": event({"tags": prop("array", items={"type": "string"})})}),
    ),
    (
        "required-undefined",
        plan({"E": event({"price": prop("number")}, required=["price", "prize"])}),
        "/events/E/required/1",
        plan({"E": event({"price": prop("number")}, required=["price"])}),
    ),
    (
        "enum-duplicate",
        plan({"E": event({"m": prop(enum=["a", "b", "a"])})}),
        "/events/E/properties/m/enum/2",
        plan({"E": event({"m": prop(enum=["a", "b", "A"])})}),
    ),
    (
        "enum-duplicate",  # 1 and 1.0 are one JSON value; true is not 1
        plan({"E": event({"m": prop("number", enum=[1, 1.0])})}),
        "/events/E/properties/m/enum/1",
        plan({"E": event({"m": prop(["number", "boolean"], enum=[1, True])})}),
    ),
    (
        "enum-empty",
        plan({"E": event({"m": prop(enum=[])})}),
        "/events/E/properties/m/enum",
        plan({"E": event({"m": prop(enum=["a"])})}),
    ),
    (
        "enum-type-mismatch",
        plan({"E": event({"n": prop("integer", enum=[1, "2"])})}),
        "/events/E/properties/n/enum/1",
        plan({"E": event({"n": prop("integer", enum=[1, 2.0])})}),
    ),
    (
        "range-crossed",
        plan({"E": event({"n": prop("number", minimum=5, maximum=1)})}),
        "/events/E/properties/n/minimum",
        plan({"E": event({"n": prop("number", minimum=1, maximum=1)})}),
    ),
    (
        "range-crossed",  # exclusive bounds that meet
        plan({"E": event({"n": prop("number", exclusiveMinimum=1, maximum=1)})}),
        "/events/E/properties/n/exclusiveMinimum",
        plan({"E": event({"n": prop("number", exclusiveMinimum=1, maximum=2)})}),
    ),
    (
        "length-crossed",
        plan({"E": event({"s": prop(minLength=3, maxLength=2)})}),
        "/events/E/properties/s/minLength",
        plan({"E": event({"s": prop(minLength=2, maxLength=2)})}),
    ),
    (
        "length-crossed",  # items of an array
        plan({"E": event({"a": prop("array", items={"type": "string"}, minItems=2, maxItems=1)})}),
        "/events/E/properties/a/minItems",
        plan({"E": event({"a": prop("array", items={"type": "string"}, minItems=1, maxItems=1)})}),
    ),
    (
        "keyword-type-mismatch",
        plan({"E": event({"n": prop("integer", pattern="^[0-9]+$")})}),
        "/events/E/properties/n/pattern",
        plan({"E": event({"n": prop(["string", "null"], pattern="^[0-9]+$")})}),
    ),
    (
        "keyword-type-mismatch",  # a string's bound on a number
        plan({"E": event({"n": prop("number", maxLength=3)})}),
        "/events/E/properties/n/maxLength",
        plan({"E": event({"n": prop("number", maximum=3)})}),
    ),
    (
        "pii-flag-type",
        plan({"E": event({"email": prop(pii="yes")})}),
        "/events/E/properties/email/pii",
        plan({"E": event({"email": prop(pii=True)})}),
    ),
    (
        "lint-config",
        plan({"E": event()}, lint={"event_names": "SHOUTING"}),
        "/lint/event_names",
        plan({"E": event()}, lint={"event_names": "PascalCase"}),
    ),
    (
        "lint-config",
        plan({"E": event()}, lint={"ignore": ["event-name-case", "no-such-rule"]}),
        "/lint/ignore/1",
        plan({"E": event()}, lint={"ignore": ["event-name-case"]}),
    ),
    (
        "lint-config",  # not a string at all
        plan({"E": event()}, lint={"property_names": {"snake": True}}),
        "/lint/property_names",
        plan({"E": event()}, lint={"property_names": "snake_case"}),
    ),
    (
        "lint-config",
        plan({"E": event()}, lint={"ignore": [["enum-empty"]]}),
        "/lint/ignore/0",
        plan({"E": event()}, lint={"ignore": ["enum-empty"]}),
    ),
]


def findings(document: dict[str, Any], rule: str) -> list[Any]:
    return [f for f in lint_plan(document).findings if f.rule == rule]


@pytest.mark.parametrize(("rule", "bad", "path", "good"), CASES)
def test_each_rule_flags_the_problem_and_only_it(rule, bad, path, good) -> None:
    found = findings(bad, rule)
    assert [(f.path, f.severity) for f in found] == [(path, RULES[rule])]
    assert found[0].message.endswith(".")
    assert findings(good, rule) == []


def test_every_rule_has_a_case() -> None:
    assert {case[0] for case in CASES} == set(RULES)


# (convention, names it takes, names it refuses)
CONVENTION_CASES = [
    ("snake_case", ["order_completed", "order", "step_2"], ["orderCompleted", "Order", "a__b"]),
    ("camelCase", ["orderCompleted", "order", "userID"], ["OrderCompleted", "order_id"]),
    ("PascalCase", ["OrderCompleted", "Order"], ["orderCompleted", "Order Completed"]),
    (
        "Object Action",
        ["Order Completed", "Step 2 Viewed", "URL Opened"],
        ["Order", "Order completed", "order completed", "Order  Completed", "Order_Completed"],
    ),
    ("object_action", ["order_completed", "cart_item_added"], ["order", "orderCompleted"]),
    ("kebab-case", ["order-completed", "order"], ["order_completed", "Order-Completed", "a--b"]),
    ("any", ["Whatever it is!", "ünïcode", "a/b"], []),
]


@pytest.mark.parametrize(("convention", "takes", "refuses"), CONVENTION_CASES)
def test_naming_conventions(convention, takes, refuses) -> None:
    names = {name: event() for name in takes + refuses}
    report = lint_plan(plan(names), event_names=convention)
    flagged = {f.event for f in report.findings if f.rule == "event-name-case"}
    assert flagged == set(refuses)
    properties = {name: prop() for name in takes + refuses}
    report = lint_plan(plan({"E": event(properties)}), property_names=convention)
    flagged = {f.property for f in report.findings if f.rule == "property-name-case"}
    assert flagged == set(refuses)


def test_every_convention_is_tried() -> None:
    assert [case[0] for case in CONVENTION_CASES] == list(CONVENTIONS)


def test_conventions_come_from_the_plan_and_parameters_override_them() -> None:
    document = plan(
        {"order_completed": event({"userId": prop()})},
        lint={"event_names": "snake_case", "property_names": "camelCase"},
    )
    report = lint_plan(document)
    assert report.conventions == {"event_names": "snake_case", "property_names": "camelCase"}
    assert report.findings == []
    report = lint_plan(document, event_names="Object Action", property_names="snake_case")
    assert report.conventions == {"event_names": "Object Action", "property_names": "snake_case"}
    assert [f.rule for f in report.findings] == ["event-name-case", "property-name-case"]
    assert lint_plan(plan({})).conventions == {"event_names": "any", "property_names": "any"}


def test_ignored_rules_are_left_out() -> None:
    document = plan({"E": {"type": "object", "properties": {"p": {"type": "string"}}}})
    rules = {f.rule for f in lint_plan(document).findings}
    assert rules == {"event-description-missing", "property-description-missing"}
    document["lint"] = {"ignore": ["property-description-missing"]}
    assert [f.rule for f in lint_plan(document).findings] == ["event-description-missing"]


def test_pointers_escape_slash_and_tilde() -> None:
    document = plan({"a/b~c": {"type": "object", "properties": {"x/~y": {"type": "string"}}}})
    paths = {f.rule: f.path for f in lint_plan(document).findings}
    assert paths == {
        "event-description-missing": "/events/a~1b~0c",
        "property-description-missing": "/events/a~1b~0c/properties/x~1~0y",
    }


def test_typed_messages_are_linted_by_their_type() -> None:
    document = plan({}, types={"identify": {"type": "object", "properties": {"email": {}}}})
    found = {(f.rule, f.path, f.event, f.property) for f in lint_plan(document).findings}
    assert found == {
        ("property-description-missing", "/types/identify/properties/email", "identify", "email"),
        ("property-type-missing", "/types/identify/properties/email", "identify", "email"),
    }


def test_composition_branches_restate_properties_and_only_their_keywords_are_checked() -> None:
    # if/then restates `plan` without a description or type: no finding for that; its enum's
    # duplicate is still one.
    schema = event(
        {"plan": prop(enum=["free", "pro"]), "seats": prop("integer")},
        **{"if": {"properties": {"plan": {"const": "pro"}}}},
        then={"properties": {"seats": {"enum": [5, 5]}}, "required": ["seats"]},
    )
    found = [(f.rule, f.path) for f in lint_plan(plan({"E": schema})).findings]
    assert found == [("enum-duplicate", "/events/E/then/properties/seats/enum/1")]


def test_the_report_counts_errors_and_warnings() -> None:
    document = copy.deepcopy(DEMO_PLAN)
    document["lint"] = {"event_names": "Object Action"}
    answer = lint_plan(document).to_dict()
    assert answer["errors"] == 3  # user_login, purchase, screen_view
    assert answer["warnings"] == 6  # properties without a description
    first = answer["findings"][0]
    assert first == {
        "severity": "error",
        "rule": "event-name-case",
        "path": "/events/user_login",
        "event": "user_login",
        "property": None,
        "message": "Event 'user_login' is not Object Action.",
    }


def test_a_plan_that_does_not_parse_and_an_unknown_convention_raise() -> None:
    with pytest.raises(PlanError, match="JSON object"):
        lint_plan([])
    with pytest.raises(PlanError, match="no 'events'"):
        lint_plan({"lint": {}})
    with pytest.raises(ValueError, match="not a naming convention"):
        lint_plan(plan({}), event_names="UPPER")


def test_messages_show_names_escaped_and_cut() -> None:
    bell, long = "beep\x07", "x" * 250
    document = plan({bell: {"type": "object"}, long: {"type": "object"}, " pad": event()})
    messages = {(f.rule, f.event): f.message for f in lint_plan(document).findings}
    assert messages[("event-description-missing", bell)] == "Event 'beep\\x07' has no description."
    cut = "x" * 100 + "…"
    assert messages[("event-description-missing", long)] == f"Event '{cut}' has no description."
    assert messages[("name-whitespace", " pad")] == (
        'Event " pad" has leading or trailing whitespace.'  # quoted as shown_name quotes it
    )
