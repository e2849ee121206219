"""Expectations of a test run: parse the document, and check a run's events against it.

A document says which events must appear (how often, with which properties), which must not,
in which order the first occurrences come, and whether anything else, invalid or unplanned
events fail the run (docs/expectations.md). Property constraints are JSON Schema compiled by
the same linear-time dialect as plans, so a hostile pattern cannot stall the checker.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError

from .canonical import canonical_json, nests_deeper_than
from .compiler import CompiledPlan, compile_plan
from .pii import mask_text
from .plan import MAX_EVENT_NAME_CHARS, PlanError, linear_problem, parse_plan
from .verdict import INVALID, UNPLANNED
from .violations import json_type

MAX_DOCUMENT_BYTES = 64 * 1024  # of the canonical JSON
MAX_EXPECTATIONS = 200  # names under expect, forbid and order together
MAX_DEPTH = 32
MAX_LISTED = 20  # offending events named per result
# Property checks (an event times the properties constrained for its name) one check of a run
# may make: what a document can ask is bounded by this, not by the run's size or the number of
# constraints, so one read of a report costs at most about a second of a server's CPU. Beyond
# it, the events left are not checked and the answer says so (`partial`).
MAX_PROPERTY_CHECKS = 20_000
# Constrained properties in one document: what listing a broken event's violations costs grows
# faster than their number (a few ms at 100, half a second at 500).
MAX_CONSTRAINED_PROPERTIES = 100
KEYS = ("expect", "forbid", "order", "only_expected", "allow_invalid", "allow_unplanned")
ENTRY_KEYS = ("event", "min", "max", "properties")
MAX_COUNT = 2**31 - 1


class ExpectationsError(ValueError):
    """A malformed expectations document; `field` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


@dataclass(frozen=True)
class Expected:
    """One event that must appear: between min and max times (max None: no bound)."""

    event: str
    min: int
    max: int | None
    properties: dict[str, Any] | None


@dataclass(frozen=True)
class Expectations:
    """A checked expectations document."""

    expect: tuple[Expected, ...]
    forbid: tuple[str, ...]
    order: tuple[str, ...]
    only_expected: bool
    allow_invalid: bool
    allow_unplanned: bool

    def to_dict(self) -> dict[str, Any]:
        """The normalised document: every key present, defaults filled in."""
        return {
            "expect": [
                {"event": e.event, "min": e.min, "max": e.max, "properties": e.properties}
                for e in self.expect
            ],
            "forbid": list(self.forbid),
            "order": list(self.order),
            "only_expected": self.only_expected,
            "allow_invalid": self.allow_invalid,
            "allow_unplanned": self.allow_unplanned,
        }

    def compiled(self) -> CompiledPlan:
        """The property constraints as a plan of one event per constrained name (cached)."""
        return compile_plan(_constraints_plan(self.expect), 0)


@dataclass(frozen=True)
class RunEvent:
    """What the checker needs of one stored event of the run."""

    id: int
    event_name: str
    status: str
    properties: Any
    timestamp: datetime


def parse_expectations(document: Any) -> Expectations:
    """Check an expectations document (parsed JSON); ExpectationsError naming the field."""
    if not isinstance(document, dict):
        raise ExpectationsError(
            "", f"The expectations must be a JSON object, got {json_type(document)}"
        )
    if nests_deeper_than(document, MAX_DEPTH):
        raise ExpectationsError("", f"The expectations nest deeper than {MAX_DEPTH} levels")
    try:
        text = canonical_json(document)
    except (TypeError, ValueError) as exc:
        raise ExpectationsError("", f"The expectations are not JSON data: {exc}") from None
    if "\\u0000" in text:  # as plans and events: no database column can hold it
        raise ExpectationsError(
            "", "The expectations contain a NUL character (\\u0000), which cannot be stored"
        )
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise ExpectationsError(
            "", "The expectations contain a lone surrogate (\\ud800-\\udfff), not text"
        ) from None
    if size > MAX_DOCUMENT_BYTES:
        raise ExpectationsError(
            "", f"The expectations are {size} bytes; at most {MAX_DOCUMENT_BYTES} are allowed"
        )
    _no_unknown_keys("", document, KEYS)
    expect = tuple(
        _expected(f"expect[{i}]", entry) for i, entry in enumerate(_list(document, "expect"))
    )
    forbid = tuple(_name(f"forbid[{i}]", n) for i, n in enumerate(_list(document, "forbid")))
    order = tuple(_name(f"order[{i}]", n) for i, n in enumerate(_list(document, "order")))
    total = len(expect) + len(forbid) + len(order)
    if total > MAX_EXPECTATIONS:
        raise ExpectationsError(
            "",
            f"The expectations name {total} events under expect, forbid and order; "
            f"at most {MAX_EXPECTATIONS} are allowed",
        )
    constrained = sum(len(e.properties or {}) for e in expect)
    if constrained > MAX_CONSTRAINED_PROPERTIES:
        raise ExpectationsError(
            "expect",
            f"The expectations constrain {constrained} properties; "
            f"at most {MAX_CONSTRAINED_PROPERTIES} are allowed",
        )
    expected = _no_repeats("expect", [e.event for e in expect])
    _no_repeats("forbid", list(forbid))
    _no_repeats("order", list(order))
    for i, name in enumerate(forbid):
        if name in expected:
            raise ExpectationsError(
                f"forbid[{i}]", f"{name!r} is also under expect (use max: 0 there to forbid it)"
            )
    for i, name in enumerate(order):
        if name in forbid:
            raise ExpectationsError(f"order[{i}]", f"{name!r} is forbidden, so it has no order")
    result = Expectations(
        expect=expect,
        forbid=forbid,
        order=order,
        only_expected=_flag(document, "only_expected"),
        allow_invalid=_flag(document, "allow_invalid"),
        allow_unplanned=_flag(document, "allow_unplanned"),
    )
    try:
        # The plan's own caps (distinct patterns, size) over every constraint together.
        parse_plan(_constraints_plan(expect))
    except PlanError as exc:
        raise ExpectationsError("expect", _as_constraints(exc)) from None
    return result


_REWORDED = (
    ("The tracking plan uses", "The property constraints use"),
    ("The tracking plan is", "The property constraints are"),
    ("The tracking plan has", "The property constraints have"),
    ("The tracking plan", "The property constraints"),
)


def _as_constraints(error: PlanError) -> str:
    """A plan check's message about the constraints (checked as a plan of their events)."""
    text = str(error)
    for plan, constraints in _REWORDED:
        text = text.replace(plan, constraints, 1)
    return text


def _no_unknown_keys(field: str, value: dict[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        where = f"{field}." if field else ""
        raise ExpectationsError(
            f"{where}{_cut(unknown[0])}",
            f"unknown key (allowed: {', '.join(allowed)})",
        )


def _cut(name: str) -> str:
    """A name as part of a field path: long ones cut, so a message stays readable."""
    return name if len(name) <= 80 else name[:80] + "…"


def _list(document: dict[str, Any], key: str) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        raise ExpectationsError(key, f"must be a list, got {json_type(value)}")
    return value


def _flag(document: dict[str, Any], key: str) -> bool:
    value = document.get(key, False)
    if not isinstance(value, bool):
        raise ExpectationsError(key, f"must be true or false, got {json_type(value)}")
    return value


def _name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ExpectationsError(field, f"must be a non-empty event name, got {json_type(value)}")
    if len(value) > MAX_EVENT_NAME_CHARS:
        raise ExpectationsError(
            field, f"an event name is at most {MAX_EVENT_NAME_CHARS} characters, got {len(value)}"
        )
    return value


def _count(field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_COUNT:
        raise ExpectationsError(field, f"must be a whole number from 0, got {value!r}"[:200])
    return value


def _expected(field: str, entry: Any) -> Expected:
    if isinstance(entry, str):  # a bare name: "must appear at least once"
        return Expected(_name(field, entry), 1, None, None)
    if not isinstance(entry, dict):
        raise ExpectationsError(
            field, f"must be an event name or an object with 'event', got {json_type(entry)}"
        )
    _no_unknown_keys(field, entry, ENTRY_KEYS)
    if "event" not in entry:
        raise ExpectationsError(f"{field}.event", "is required")
    name = _name(f"{field}.event", entry["event"])
    high = entry.get("max")
    if high is not None:
        high = _count(f"{field}.max", high)
    # `max: 0` alone means "never": min defaults to 1 otherwise.
    low = _count(f"{field}.min", entry.get("min", 0 if high == 0 else 1))
    if high is not None and low > high:
        raise ExpectationsError(f"{field}.max", f"is {high}, less than min ({low})")
    properties = entry.get("properties")
    if properties is not None:
        properties = _properties(f"{field}.properties", properties)
    expected = Expected(name, low, high, properties)
    try:
        parse_plan(_constraints_plan((expected,)))  # what a plan checks more: $ref, sizes
    except PlanError as exc:
        raise ExpectationsError(f"{field}.properties", _as_constraints(exc)) from None
    return expected


def _properties(field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ExpectationsError(
            field, f"must be an object of property name to JSON Schema, got {json_type(value)}"
        )
    for name, schema in value.items():
        where = f"{field}.{_cut(str(name))}"
        if not isinstance(schema, dict | bool):
            raise ExpectationsError(where, f"must be a JSON Schema object, got {json_type(schema)}")
        try:
            Draft7Validator.check_schema(schema)
        except SchemaError as exc:
            inside = "".join(f".{_cut(str(p))}" for p in exc.path)
            raise ExpectationsError(f"{where}{inside}", exc.message[:300]) from None
        problem = linear_problem(schema) if isinstance(schema, dict) else None
        if problem is not None:
            raise ExpectationsError(where, problem)
    return value


def _no_repeats(field: str, names: list[str]) -> set[str]:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            suffix = ".event" if field == "expect" else ""
            raise ExpectationsError(f"{field}[{i}]{suffix}", f"{name!r} is named twice")
        seen.add(name)
    return seen


def _constraints_plan(expect: tuple[Expected, ...]) -> dict[str, Any]:
    """Each constrained event's properties as a plan event: every named property required."""
    return {
        "events": {
            e.event: {"type": "object", "properties": e.properties, "required": list(e.properties)}
            for e in expect
            if e.properties
        }
    }


class Budget:
    """Property checks left to make (MAX_PROPERTY_CHECKS for one report; a page of runs shares
    one)."""

    def __init__(self, checks: int | None = None) -> None:
        self.left = MAX_PROPERTY_CHECKS if checks is None else checks

    def take(self, checks: int) -> bool:
        """Spend `checks` if that many are left."""
        if checks > self.left:
            self.left = 0
            return False
        self.left -= checks
        return True


def check(
    expectations: Expectations,
    events: list[RunEvent],
    counts: dict[tuple[str, str], int],
    blocked: int,
    budget: Budget | None = None,
) -> dict[str, Any]:
    """Each expectation met or not, over the run's `counts` by (event name, status) and the
    `events` loaded (for properties, order and the offending events named; may be fewer than
    the counts when the run is very large). Offending events are given by id (`event_ids`)."""
    by_name: Counter[str] = Counter()
    by_status: Counter[str] = Counter()
    for (name, status), n in counts.items():
        by_name[name] += n
        by_status[status] += n
    ids_of: dict[str, list[int]] = {}
    for event in sorted(events, key=lambda e: e.id):
        ids_of.setdefault(event.event_name, []).append(event.id)
    results: list[dict[str, Any]] = []
    compiled = expectations.compiled()
    budget = budget or Budget()
    unchecked = 0
    for entry in expectations.expect:
        results.append(_count_result(entry, by_name[entry.event], ids_of.get(entry.event, [])))
        if entry.properties:
            named = [e for e in events if e.event_name == entry.event]
            result, left_out = _properties_result(entry, named, compiled, budget)
            results.append(result)
            unchecked += left_out
    for name in expectations.forbid:
        seen = by_name[name]
        results.append(
            _result(
                f"absent:{name}",
                "absent",
                f"{name} does not appear",
                seen == 0,
                f"seen {_times(seen)}",
                ids_of.get(name, []),
            )
        )
    if expectations.only_expected:
        results.append(_only_expected(expectations, by_name, ids_of))
    if expectations.order:
        results.append(_order(expectations.order, events))
    invalid = [e.id for e in events if e.status == INVALID]
    results.append(
        _policy("invalid", expectations.allow_invalid, by_status[INVALID], invalid, "invalid")
    )
    unplanned = [e.id for e in events if e.status == UNPLANNED]
    unplanned_result = _policy(
        "unplanned",
        expectations.allow_unplanned,
        by_status[UNPLANNED] + blocked,
        unplanned,
        "unplanned or blocked",
    )
    if blocked:
        unplanned_result["message"] += f" ({blocked} blocked, never stored)"
    results.append(unplanned_result)
    # unchecked: events whose properties were left unchecked (over the budget, or not loaded).
    return {"met": all(r["met"] for r in results), "results": results, "unchecked": unchecked}


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _result(
    rid: str, kind: str, title: str, met: bool, message: str, event_ids: list[int]
) -> dict[str, Any]:
    return {
        "id": rid,
        "kind": kind,
        "title": title,
        "met": met,
        "message": message,
        "event_ids": event_ids[:MAX_LISTED] if not met else [],
    }


def _bounds(entry: Expected) -> str:
    low, high = entry.min, entry.max
    if high is None:
        return "at least once" if low == 1 else f"at least {low} times"
    if low == high:
        return f"exactly {_times(high)}"
    if low == 0:
        return f"at most {_times(high)}"
    return f"{low} to {high} times"


def _count_result(entry: Expected, seen: int, ids: list[int]) -> dict[str, Any]:
    kind = "present" if entry.max is None else "count"
    met = entry.min <= seen and (entry.max is None or seen <= entry.max)
    # Too many: the events past the bound are the offending ones.
    offending = ids[entry.max :] if entry.max is not None and seen > entry.max else []
    title = (
        f"{entry.event} does not appear"
        if entry.max == 0
        else f"{entry.event} appears {_bounds(entry)}"
    )
    return _result(f"{kind}:{entry.event}", kind, title, met, f"seen {_times(seen)}", offending)


def _properties_result(
    entry: Expected, events: list[RunEvent], compiled: CompiledPlan, budget: Budget
) -> tuple[dict[str, Any], int]:
    """The result over the events the budget (and the properties loaded) allows, in id order,
    and how many were left unchecked. Each event is only matched (the first violation ends
    the look); the violations are listed for the first broken one, which the message quotes."""
    broken: list[int] = []
    cost = len(entry.properties or {})
    checked = 0
    for event in sorted(events, key=lambda e: e.id):
        if event.properties is None or not budget.take(cost):
            break
        checked += 1
        if not compiled.matches(entry.event, event.properties):
            broken.append(event.id)
    names = ", ".join(sorted(entry.properties or {}))
    title = f"Every {entry.event} has {names} as expected"
    if not events:
        message = f"no {entry.event} event to check"
    elif not broken:
        message = (
            f"all {checked} match" if checked == len(events) else f"{checked} checked, all match"
        )
    else:
        first = next(e for e in events if e.id == broken[0])
        violations = compiled.validate_schema_only(entry.event, first.properties)
        reason = violations[0]["message"] if violations else "it does not match"
        reason = mask_text(reason)  # a message may quote the value: no personal data in reports
        message = f"{len(broken)} of {checked} do not match; event #{broken[0]}: {reason}"
    left_out = len(events) - checked
    if left_out:
        limit = f"{MAX_PROPERTY_CHECKS:,}"
        message += f" ({left_out} not checked: over the {limit} property checks of a report)"
    result = _result(f"properties:{entry.event}", "properties", title, not broken, message, broken)
    return result, left_out


def _only_expected(
    expectations: Expectations, by_name: Counter[str], ids_of: dict[str, list[int]]
) -> dict[str, Any]:
    allowed = {e.event for e in expectations.expect}
    others = sorted((name, n) for name, n in by_name.items() if n and name not in allowed)
    if others:
        shown = ", ".join(f"{name} ({n})" for name, n in others[:10])
        more = f" and {len(others) - 10} more names" if len(others) > 10 else ""
        message = f"{sum(n for _, n in others)} other events: {shown}{more}"
    else:
        message = "none"
    offending = sorted(i for name, _ in others for i in ids_of.get(name, []))
    return _result(
        "only_expected",
        "absent",
        "No event but the expected ones",
        not others,
        message,
        offending,
    )


def _order(order: tuple[str, ...], events: list[RunEvent]) -> dict[str, Any]:
    first: dict[str, RunEvent] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.id)):
        first.setdefault(event.event_name, event)
    title = "First occurrences in order: " + " → ".join(order)
    missing = [name for name in order if name not in first]
    if missing:
        shown = [first[n].id for n in order if n in first]
        return _result(
            "order", "order", title, False, f"{', '.join(missing)} never appeared", shown
        )
    for before, after in zip(order, order[1:], strict=False):
        a, b = first[before], first[after]
        if (b.timestamp, b.id) < (a.timestamp, a.id):
            message = f"{after} (event #{b.id}) came before {before} (event #{a.id})"
            return _result("order", "order", title, False, message, [b.id, a.id])
    return _result("order", "order", title, True, "in order", [])


def _policy(kind: str, allowed: bool, seen: int, ids: list[int], what: str) -> dict[str, Any]:
    if allowed:
        title = f"{what.capitalize()} events allowed"
        return _result(kind, kind, title, True, f"{_events(seen, what)} (allowed)", [])
    return _result(kind, kind, f"No {what} event", seen == 0, _events(seen, what), ids)


def _events(n: int, what: str) -> str:
    return f"{n} {what} event{'' if n == 1 else 's'}"
