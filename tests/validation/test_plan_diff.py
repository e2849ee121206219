"""Plan diff classification (app/validation/plan_diff.py): a table of plan changes, each tried
in both directions (old → new, then new → old), with the rule, kind and JSON pointer expected
each way; the summary counts; an unchanged plan; a first plan."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from app.validation import PlanError
from app.validation.plan_diff import diff_plans
from tests.helpers import DEMO_PLAN
from tests.support.plan_changes import CASES, obj


def only_change(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, str, str, Any]:
    changes = diff_plans(old, new).changes
    assert len(changes) == 1, changes
    change = changes[0]
    assert change.message.endswith(".")
    return change.rule, change.kind, change.path, change.property


@pytest.mark.parametrize(("old", "new", "forward", "backward", "path", "prop_name"), CASES)
def test_each_change_is_classified_both_ways(old, new, forward, backward, path, prop_name):
    assert only_change(old, new) == (*forward, path, prop_name)
    assert only_change(new, old) == (*backward, path, prop_name)


def test_the_table_has_every_rule_both_ways() -> None:
    rules = {rule for case in CASES for rule, _ in case[2:4]}
    expected = {
        *(
            f"{s}-{d}"
            for s in ("range", "length", "item-count", "property-count", "type", "enum")
            for d in ("narrowed", "widened")
        ),  # fmt: skip
        *(f"{s}-{d}" for s in ("pattern", "format") for d in ("added", "removed")),
        "pattern-changed",
        *("event-added", "event-removed", "type-schema-added", "type-schema-removed"),
        *("unplanned-events-blocked", "unplanned-events-flagged"),
        *("additional-properties-flagged", "additional-properties-allowed"),
        *("extra-properties-forbidden", "extra-properties-allowed"),
        *("property-added", "property-removed", "required-added", "required-removed"),
        *("documentation-changed", "schema-changed"),
        *("pii-allowed", "pii-disallowed"),
    }
    assert rules == expected


def test_the_same_plan_has_no_changes() -> None:
    assert diff_plans(DEMO_PLAN, copy.deepcopy(DEMO_PLAN)).changes == []


def test_without_a_published_plan_every_event_is_added() -> None:
    answer = diff_plans(None, DEMO_PLAN).to_dict(None)
    assert answer["against_version"] is None and answer["breaking"] == 0
    assert [(c["rule"], c["path"]) for c in answer["changes"]] == [
        ("event-added", "/events/user_login"),
        ("event-added", "/events/purchase"),
        ("event-added", "/events/screen_view"),
    ]
    assert answer["additive"] == 3


def test_a_new_required_property_is_one_breaking_change_with_its_values() -> None:
    new = copy.deepcopy(DEMO_PLAN)
    new["events"]["user_login"]["properties"]["plan"] = {"type": "string"}
    new["events"]["user_login"]["required"].append("plan")
    answer = diff_plans(DEMO_PLAN, new).to_dict(4)
    assert answer == {
        "against_version": 4,
        "changes": [
            {
                "kind": "breaking",
                "rule": "required-added",
                "path": "/events/user_login/properties/plan",
                "event": "user_login",
                "property": "plan",
                "message": "Property 'plan' of 'user_login': new required property.",
                "before": None,
                "after": {"type": "string"},
            }
        ],
        "breaking": 1,
        "additive": 0,
    }


def test_pointers_escape_slash_and_tilde() -> None:
    old = {"events": {"a/b": obj({"x~y": {"type": "string"}})}}
    new = {"events": {"a/b": obj({"x~y": {"type": "integer"}})}}
    (change,) = diff_plans(old, new).changes
    assert change.path == "/events/a~1b/properties/x~0y/type"


def test_a_new_plan_that_does_not_parse_raises() -> None:
    with pytest.raises(PlanError, match="'events'"):
        diff_plans(DEMO_PLAN, {"events": []})
