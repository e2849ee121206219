"""Patterns are judged by a linear-time engine (RE2) in every validator path, so adversarial
patterns against long strings get the right verdict at once; patterns it cannot run (and plans
over the caps) are refused when a plan is saved, and a stored plan that has them still loads."""

from __future__ import annotations

import pytest

from app.validation import PlanError, PlanTooLarge, compile_plan, parse_plan
from app.validation.fast_check import fast_check
from app.validation.patterns import PatternError, compile_pattern
from app.validation.plan import MAX_PLAN_BYTES, MAX_PLAN_DEPTH, MAX_PLAN_PATTERNS, dialect_for
from app.validation.schema_walk import prepare_schema
from tests.validation.helpers import DRAFT_2020_12, check

LONG = 32 * 1024  # an event's size cap: the longest string a property can hold
A_THEN_B = "a" * LONG + "b"
ONLY_A = "a" * LONG
AB = "ab" * (LONG // 2)

# (pattern, string, matches): each would take Python's backtracking `re` from seconds to ages.
ADVERSARIAL = [
    (r"^(a+)+$", A_THEN_B, False),
    (r"^(a+)+$", ONLY_A, True),
    (r"(a|a)*b", A_THEN_B, True),
    (r"^(a|a)*b$", ONLY_A, False),
    (r"(.*a){20}", ONLY_A, True),
    (r"^(.*a){20}$", "a" * 19 + "b" * LONG, False),
    (r"^((a*)*)*$", A_THEN_B, False),
    (r"^(a|aa)+$", A_THEN_B, False),
    (r"^(\w+\s?)*$", "word " * (LONG // 5) + "!", False),
    (r"(x+x+)+y", "x" * LONG, False),
    (r"^([a-z0-9]+([-._][a-z0-9]+)*)*@x\.io$", "a.b" * (LONG // 3) + "!", False),
    (r"^(ab|a)*$", AB + "c", False),
    (r"^(ab|a)*$", AB, True),
]
IDS = [f"{pattern}-{len(text)}-{matches}" for pattern, text, matches in ADVERSARIAL]
DIALECTS = {
    # draft-07: the fastjsonschema fast check runs first; 2020-12: jsonschema alone.
    "fast-check": {},
    "jsonschema": {"$schema": DRAFT_2020_12},
}


@pytest.mark.timeout(60)  # Python's re would not finish: a hang is the failure here
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("pattern", "text", "matches"), ADVERSARIAL, ids=IDS)
def test_adversarial_patterns_are_judged_correctly(pattern, text, matches, dialect):
    schema = {**DIALECTS[dialect], "properties": {"s": {"type": "string", "pattern": pattern}}}
    verdict = check(schema, {"s": text})
    assert verdict.status == ("valid" if matches else "invalid")
    if not matches:
        [violation] = verdict.violations
        assert (violation["path"], violation["rule"]) == ("/properties/s", "pattern")


@pytest.mark.timeout(60)
@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize(("pattern", "text", "matches"), ADVERSARIAL, ids=IDS)
def test_adversarial_pattern_properties_are_judged_correctly(pattern, text, matches, dialect):
    # Under the flag policy a name no pattern matches is an undeclared property.
    schema = {
        **DIALECTS[dialect],
        "properties": {"id": {}},
        "patternProperties": {pattern: {"type": "integer"}},
    }
    verdict = check(schema, {text: 1}, additional_properties="flag")
    assert [v["rule"] for v in verdict.violations] == ([] if matches else ["additionalProperties"])
    if matches:  # and a matched name's value is judged by the pattern's schema
        [violation] = check(schema, {text: "one"}).violations
        assert violation["rule"] == "type"


def test_the_fast_check_runs_on_the_linear_engine():
    schema = prepare_schema({"properties": {"s": {"pattern": "^(a+)+$"}}}, False)
    fast = fast_check(schema, dialect_for("e", schema))
    assert fast is not None  # patterns keep their fast check
    assert type(fast.__globals__["REGEX_PATTERNS"]["^(a+)+$"]).__name__ == "LinearPattern"
    fast({"s": ONLY_A})


@pytest.mark.parametrize(
    ("pattern", "text", "matches"),
    [
        (r"^abc$", "abc\n", False),  # ECMA's $ is the end of input (Python's re matched here)
        (r"^\d+$", "٣", False),  # ECMA's \d is ASCII
        (r"^\u00e9+$", "éé", True),  # ECMA's \uXXXX escape
        (r"^\ud83d\ude00$", "😀", True),  # a surrogate pair is one character
        (r"^\\u0041$", "\\u0041", True),  # an escaped backslash, then the letters u0041
        (r"^(?<year>\d{4})$", "2026", True),  # ECMA's named groups
        (r"b", "a\ud800b", True),  # a lone surrogate in the string does not break the search
        (r"sub", "a substring", True),  # a search, not a full match
    ],
)
def test_patterns_follow_ecma_262(pattern, text, matches):
    assert compile_pattern(pattern).search(text) is matches
    schema = {"properties": {"s": {"pattern": pattern}}}
    assert check(schema, {"s": text}).ok is matches


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"^(a+)\1$", "backreference"),
        (r"^(?=.*\d).{8}$", "lookahead"),
        (r"^(?!admin).*$", "lookahead"),
        (r"(?<=\$)\d+", "lookbehind"),
        (r"(?<!-)\d+", "lookbehind"),
        (r"^.{0,1000}$", "instructions"),
        (r"(unclosed", "not a regular expression"),
    ],
)
def test_patterns_the_engine_cannot_run_are_refused_when_saving(pattern, reason):
    with pytest.raises(PatternError, match=reason):
        compile_pattern(pattern)
    plan = {"events": {"signup": {"properties": {"code": {"pattern": pattern}}}}}
    with pytest.raises(PlanError) as raised:
        parse_plan(plan)
    message = str(raised.value)
    assert "Event 'signup'" in message and "/properties/code/pattern" in message
    assert reason in message
    named = {"events": {"signup": {"patternProperties": {pattern: {}}}}}
    with pytest.raises(PlanError, match="/patternProperties/"):
        parse_plan(named)


def test_a_property_called_pattern_is_a_name_not_a_keyword():
    parse_plan({"events": {"e": {"properties": {"pattern": {"type": "string"}}}}})


def test_a_stored_plan_with_such_a_pattern_still_loads_and_flags_its_event():
    plan = {
        "events": {
            "signup": {"properties": {"code": {"pattern": r"^(a+)\1$"}}},
            "login": {"properties": {"code": {"pattern": "^a+$"}}},
        }
    }
    compiled = compile_plan(plan, 1)
    [violation] = compiled.validate("signup", {"code": "aa"}).violations
    assert violation["rule"] == "plan"
    assert (
        "backreference" in violation["message"] and "publish a fixed plan" in violation["message"]
    )
    assert compiled.validate("login", {"code": "aa"}).ok  # its other events are judged as usual


def test_unevaluated_properties_beside_pattern_properties_are_refused():
    schema = {
        "$schema": DRAFT_2020_12,
        "patternProperties": {"^x_": {}},
        "unevaluatedProperties": False,
    }
    with pytest.raises(PlanError, match="unevaluatedProperties"):
        parse_plan({"events": {"e": schema}})
    # stored before the check: flagged, never matched with Python's re
    assert compile_plan({"events": {"e": schema}}, 1).validate("e", {}).violations[0]["rule"] == (
        "plan"
    )


@pytest.mark.timeout(60)
def test_the_regex_format_is_checked_by_the_linear_engine():
    schema = {"properties": {"r": {"type": "string", "format": "regex"}}}
    assert check(schema, {"r": "^[a-z]+$"}).ok
    assert not check(schema, {"r": r"(a)\1"}).ok
    # Python's re parser recurses per group; this must be an answer, not a RecursionError.
    assert not check(schema, {"r": "(" * 10_000}).ok


def test_a_plan_over_the_size_cap_is_refused():
    filler = "x" * 1000
    events = {f"event_{i}": {"description": filler} for i in range(MAX_PLAN_BYTES // 1000)}
    with pytest.raises(PlanTooLarge, match="KB"):
        parse_plan({"events": events})
    compile_plan({"events": events}, 1)  # a stored one still loads
    parse_plan({"events": dict(list(events.items())[:200])})


def test_a_plan_nested_too_deep_is_refused():
    deep: dict = {"type": "object"}
    for _ in range(MAX_PLAN_DEPTH):
        deep = {"type": "object", "properties": {"p": deep}}
    with pytest.raises(PlanError, match=f"deeper than {MAX_PLAN_DEPTH}"):
        parse_plan({"events": {"e": deep}})
    very_deep: dict = {}
    for _ in range(100_000):  # beyond Python's recursion limit: still a PlanError
        very_deep = {"properties": {"p": very_deep}}
    with pytest.raises(PlanError, match="deeper"):
        parse_plan({"events": {"e": very_deep}})


def test_a_plan_with_too_many_patterns_is_refused():
    properties = {f"p{i}": {"pattern": f"^{i}$"} for i in range(MAX_PLAN_PATTERNS + 1)}
    with pytest.raises(PlanTooLarge, match="distinct patterns"):
        parse_plan({"events": {"e": {"properties": properties}}})
    properties.popitem()
    parse_plan({"events": {"e": {"properties": properties}}})


@pytest.mark.timeout(60)
def test_compiling_never_runs_python_re_on_required_names():
    # fastjsonschema matches required names against patternProperties with Python's re while
    # compiling; such a schema gets no fast check (jsonschema judges it, with RE2).
    schema = {
        "properties": {"id": {}},
        "patternProperties": {"^(a+)+$": {}},
        "required": ["a" * 40 + "!"],
        "additionalProperties": False,
    }
    plan = compile_plan({"events": {"e": schema}}, 1)
    assert [v["rule"] for v in plan.validate("e", {"id": 1}).violations] == ["required"]
