"""The expectations of a test run (app/validation/expectations.py): each kind met and not met on
a run's events, and malformed documents refused with the field at fault named."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation.expectations import (
    MAX_LISTED,
    Budget,
    ExpectationsError,
    RunEvent,
    check,
    parse_expectations,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def _events(*specs: tuple) -> list[RunEvent]:
    """Events (name[, status[, properties[, seconds after T0]]]) with ids 1, 2, …"""
    events = []
    for n, spec in enumerate(specs, start=1):
        name, status, props, seconds = (*spec, *("valid", {}, n)[len(spec) - 1 :])
        events.append(RunEvent(n, name, status, props, T0 + timedelta(seconds=seconds)))
    return events


def _counts(events: list[RunEvent]) -> dict[tuple[str, str], int]:
    return dict(Counter((e.event_name, e.status) for e in events))


def _run(document: dict[str, Any], events: list[RunEvent], blocked: int = 0) -> dict[str, Any]:
    return check(parse_expectations(document), events, _counts(events), blocked)


def _result(checked: dict[str, Any], rid: str) -> dict[str, Any]:
    (found,) = [r for r in checked["results"] if r["id"] == rid]
    return found


def test_a_missing_event_fails_present_and_passes_once_sent():
    document = {"expect": [{"event": "Signup"}, "Login"]}
    missing = _run(document, _events(("Login",)))
    signup = _result(missing, "present:Signup")
    assert (signup["met"], signup["kind"], signup["message"]) == (False, "present", "seen 0 times")
    assert signup["title"] == "Signup appears at least once"
    assert missing["met"] is False
    sent = _run(document, _events(("Login",), ("Signup",)))
    assert _result(sent, "present:Signup")["met"] is True and sent["met"] is True


def test_count_bounds_fail_below_min_and_above_max_naming_the_extra_events():
    document = {"expect": [{"event": "Add", "min": 2, "max": 3}]}
    assert _result(_run(document, _events(("Add",))), "count:Add")["met"] is False
    assert _result(_run(document, _events(("Add",), ("Add",))), "count:Add")["met"] is True
    four = _result(_run(document, _events(*[("Add",)] * 4)), "count:Add")
    assert (four["met"], four["message"], four["event_ids"]) == (False, "seen 4 times", [4])
    assert four["title"] == "Add appears 2 to 3 times"
    exactly = parse_expectations({"expect": [{"event": "Pay", "min": 1, "max": 1}]})
    once = check(exactly, [], {}, 0)
    assert _result(once, "count:Pay")["title"] == "Pay appears exactly once"


def test_a_forbidden_event_fails_absent_with_its_events():
    document = {"forbid": ["Debug Event"]}
    seen = _run(document, _events(("Login",), ("Debug Event",), ("Debug Event",)))
    debug = _result(seen, "absent:Debug Event")
    assert (debug["met"], debug["message"], debug["event_ids"]) == (False, "seen 2 times", [2, 3])
    assert _result(_run(document, _events(("Login",))), "absent:Debug Event")["met"] is True


def test_only_expected_fails_on_any_other_event():
    document = {"expect": ["Login"], "only_expected": True}
    extra = _result(_run(document, _events(("Login",), ("Promo",), ("Promo",))), "only_expected")
    assert extra["met"] is False and extra["message"] == "2 other events: Promo (2)"
    assert extra["event_ids"] == [2, 3] and extra["kind"] == "absent"
    assert _result(_run(document, _events(("Login",), ("Login",))), "only_expected")["met"]
    # Without only_expected, the other event is nobody's business.
    relaxed = _run({"expect": ["Login"]}, _events(("Login",), ("Promo",)))
    assert relaxed["met"] is True and "only_expected" not in {r["id"] for r in relaxed["results"]}


def test_property_constraints_fail_on_each_event_that_breaks_them():
    document = {
        "expect": [
            {
                "event": "Order Completed",
                "properties": {
                    "currency": {"const": "EUR"},
                    "total": {"type": "number", "minimum": 0},
                },
            }
        ]
    }
    good = {"currency": "EUR", "total": 3}
    checked = _run(
        document,
        _events(
            ("Order Completed", "valid", good),
            ("Order Completed", "valid", {"currency": "USD", "total": 3}),
            ("Order Completed", "valid", {"currency": "EUR"}),  # total missing: required
        ),
    )
    props = _result(checked, "properties:Order Completed")
    assert props["met"] is False and props["event_ids"] == [2, 3]
    assert props["message"].startswith("2 of 3 do not match; event #2: ")
    assert props["title"] == "Every Order Completed has currency, total as expected"
    fine = _run(document, _events(("Order Completed", "valid", good)))
    assert _result(fine, "properties:Order Completed")["met"] is True and fine["met"] is True


def test_order_of_first_occurrences_by_timestamp_then_id():
    document = {"order": ["View", "Add", "Buy"]}
    # Sent out of order by the clock: Add's first event is stamped before View's.
    wrong = _run(document, _events(("View", "valid", {}, 10), ("Add", "valid", {}, 5), ("Buy",)))
    order = _result(wrong, "order")
    assert (
        order["met"] is False and order["message"] == "Add (event #2) came before View (event #1)"
    )
    assert order["event_ids"] == [2, 1]
    right = _run(document, _events(("View",), ("Add",), ("View",), ("Buy",)))
    assert _result(right, "order")["met"] is True
    # Equal timestamps: the smaller id came first.
    tie = _events(("View", "valid", {}, 7), ("Add", "valid", {}, 7), ("Buy", "valid", {}, 7))
    assert _result(_run(document, tie), "order")["met"] is True
    missing = _result(_run(document, _events(("View",), ("Buy",))), "order")
    assert missing["met"] is False and missing["message"] == "Add never appeared"


def test_invalid_events_fail_unless_allowed():
    events = _events(("Login",), ("Login", "invalid"))
    strict = _result(_run({}, events), "invalid")
    assert (strict["met"], strict["message"], strict["event_ids"]) == (
        False,
        "1 invalid event",
        [2],
    )
    allowed = _run({"allow_invalid": True}, events)
    assert _result(allowed, "invalid")["met"] is True and allowed["met"] is True
    assert _result(_run({}, _events(("Login",))), "invalid")["met"] is True


def test_unplanned_and_blocked_events_fail_unless_allowed():
    events = _events(("Login",), ("Promo", "unplanned"))
    strict = _result(_run({}, events), "unplanned")
    assert strict["met"] is False and strict["event_ids"] == [2]
    blocked = _result(_run({}, _events(("Login",)), blocked=2), "unplanned")
    assert blocked["met"] is False
    assert blocked["message"] == "2 unplanned or blocked events (2 blocked, never stored)"
    allowed = _run({"allow_unplanned": True}, events, blocked=2)
    assert allowed["met"] is True
    assert _result(_run({}, _events(("Login",))), "unplanned")["met"] is True


def test_offending_events_are_capped_and_counts_come_from_the_counts():
    # The counts cover the whole run even when fewer events were loaded.
    parsed = parse_expectations({"forbid": ["Spam"]})
    loaded = _events(*[("Spam",)] * 30)
    spam = _result(check(parsed, loaded, {("Spam", "valid"): 500}, 0), "absent:Spam")
    assert spam["message"] == "seen 500 times" and len(spam["event_ids"]) == MAX_LISTED


def test_the_document_is_normalised_with_defaults():
    parsed = parse_expectations({"expect": ["A", {"event": "B", "max": 2}], "forbid": ["C"]})
    assert parsed.to_dict() == {
        "expect": [
            {"event": "A", "min": 1, "max": None, "properties": None},
            {"event": "B", "min": 1, "max": 2, "properties": None},
        ],
        "forbid": ["C"],
        "order": [],
        "only_expected": False,
        "allow_invalid": False,
        "allow_unplanned": False,
    }
    # `max: 0` alone means "never": min follows.
    never = parse_expectations({"expect": [{"event": "Debug", "max": 0}]})
    assert (never.expect[0].min, never.expect[0].max) == (0, 0)
    seen = _result(check(never, _events(("Debug",)), {("Debug", "valid"): 1}, 0), "count:Debug")
    assert (seen["title"], seen["met"], seen["event_ids"]) == ("Debug does not appear", False, [1])
    # Normalising is stable: the normalised document parses to itself.
    assert parse_expectations(parsed.to_dict()).to_dict() == parsed.to_dict()


BAD = [
    ([], ""),
    ({"expects": []}, "expects"),
    ({"expect": "A"}, "expect"),
    ({"expect": [3]}, "expect[0]"),
    ({"expect": [{"min": 1}]}, "expect[0].event"),
    ({"expect": [{"event": "A", "color": 1}]}, "expect[0].color"),
    ({"expect": [{"event": ""}]}, "expect[0].event"),
    ({"expect": [{"event": "A", "min": -1}]}, "expect[0].min"),
    ({"expect": [{"event": "A", "min": True}]}, "expect[0].min"),
    ({"expect": [{"event": "A", "min": 1.5}]}, "expect[0].min"),
    ({"expect": [{"event": "A", "min": 3, "max": 2}]}, "expect[0].max"),
    ({"expect": ["A", {"event": "A"}]}, "expect[1].event"),
    ({"expect": [{"event": "A", "properties": []}]}, "expect[0].properties"),
    ({"expect": [{"event": "A", "properties": {"p": 3}}]}, "expect[0].properties.p"),
    (
        {"expect": [{"event": "A", "properties": {"p": {"type": "nope"}}}]},
        "expect[0].properties.p.type",
    ),
    (
        {"expect": [{"event": "A", "properties": {"p": {"minimum": "0"}}}]},
        "expect[0].properties.p.minimum",
    ),
    # Catastrophic backtracking in Python's re; the linear-time engine refuses the back-reference.
    (
        {"expect": [{"event": "A", "properties": {"p": {"pattern": "^(a+)+\\1$"}}}]},
        "expect[0].properties.p",
    ),
    (
        {"expect": [{"event": "A", "properties": {"p": {"$ref": "http://127.0.0.1:9/s"}}}]},
        "expect[0].properties",
    ),
    ({"expect": [{"event": "A", "k" * 500: 1}]}, "expect[0]." + "k" * 80 + "…"),
    ({"forbid": [None]}, "forbid[0]"),
    ({"forbid": ["A", "A"]}, "forbid[1]"),
    ({"expect": ["A"], "forbid": ["A"]}, "forbid[0]"),
    ({"forbid": ["A"], "order": ["A"]}, "order[0]"),
    ({"order": ["x" * 256]}, "order[0]"),
    ({"only_expected": "yes"}, "only_expected"),
    ({"allow_invalid": 1}, "allow_invalid"),
    ({"allow_unplanned": None}, "allow_unplanned"),
    ({"forbid": [f"E{i}" for i in range(201)]}, ""),
    ({"forbid": ["x" * 250] * 300}, ""),  # over 64 KB
    ({"expect": ["a\u0000b"]}, ""),  # NUL: refused like plans and events
    ({"expect": ["\ud800"]}, ""),  # a lone surrogate: no UTF-8 for it
    (
        {"expect": [{"event": f"E{i}", "properties": {"a": {}, "b": {}}} for i in range(51)]},
        "expect",
    ),
    ({"expect": [{"event": "a", "properties": {"p\u0000": {"const": "x"}}}]}, ""),
]


@pytest.mark.parametrize(("document", "field"), BAD)
def test_malformed_documents_name_the_field(document, field):
    with pytest.raises(ExpectationsError) as raised:
        parse_expectations(document)
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: " if field else "The expectations")
    assert len(str(raised.value)) < 1000


def test_a_hostile_pattern_the_engine_accepts_runs_in_linear_time():
    # (a|aa)*b on a long run of a's backtracks exponentially in Python's re; RE2 does not.
    document = {"expect": [{"event": "A", "properties": {"p": {"pattern": "^(a|aa)*b$"}}}]}
    events = _events(("A", "valid", {"p": "a" * 5000}))
    assert _result(_run(document, events), "properties:A")["met"] is False


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["expect", "forbid", "order", "only_expected", "allow_invalid", "allow_unplanned", "x"]
)
ENTRY = st.dictionaries(
    st.sampled_from(["event", "min", "max", "properties"]),
    JSON | st.sampled_from(["A", 0, 2]) | st.just({"p": {"type": "string"}}),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(KEYS, JSON | st.lists(ENTRY | st.sampled_from(["A", "B"]), max_size=3)))
def test_any_document_parses_or_raises_expectations_error(document):
    try:
        parsed = parse_expectations(document)
    except ExpectationsError as exc:
        assert str(exc)
        return
    checked = check(parsed, _events(("A",), ("B", "invalid")), {("A", "valid"): 1}, 0)
    assert isinstance(checked["met"], bool)


def test_property_checks_stop_at_the_budget_and_say_how_many_were_left():
    """A document cannot make one report check more than a budget of (event, property)
    pairs, whatever the run's size or the number of constraints (a CPU bound per read)."""
    document = {"expect": [{"event": "E", "properties": {"a": {"const": 1}, "b": {}}}]}
    fine, bad = {"a": 1, "b": 0}, {"a": 2, "b": 0}
    events = _events(*[("E", "valid", fine)] * 5, ("E", "valid", bad), ("E", "valid", fine))
    expectations = parse_expectations(document)
    # 2 checks per event: a budget of 11 checks the first five events (10), not the sixth.
    checked = check(expectations, events, _counts(events), 0, Budget(11))
    props = _result(checked, "properties:E")
    assert props["met"] is True and checked["unchecked"] == 2
    assert props["message"] == (
        "5 checked, all match (2 not checked: over the 20,000 property checks of a report)"
    )
    whole = check(expectations, events, _counts(events), 0, Budget(14))
    assert _result(whole, "properties:E")["event_ids"] == [6] and whole["unchecked"] == 0
    # One budget shared by two checks (a page of runs): the second gets what is left.
    shared = Budget(16)
    check(expectations, events, _counts(events), 0, shared)
    second = check(expectations, events, _counts(events), 0, shared)
    assert second["unchecked"] == 6 and shared.left == 0


def test_a_cap_of_the_plan_format_is_worded_for_expectations():
    properties = {f"p{i}": {"type": "string", "pattern": f"^x{i}$"} for i in range(201)}
    with pytest.raises(ExpectationsError) as refused:
        parse_expectations({"expect": [{"event": "E", "properties": properties}]})
    assert refused.value.field == "expect[0].properties"
    assert str(refused.value).startswith("expect[0].properties: The property constraints use 201")
