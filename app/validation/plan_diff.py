"""Classify the changes between two tracking plans: breaking or additive.

Breaking: an event the old plan passed may fail the new one (a removed event, a new required
property, a narrowed type or enum, a new or stricter pattern or bound). Additive: everything the
old plan passed still passes. Pure; the table of rules is in docs/plan-checks.md.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from .dialects import json_key
from .plan import Plan, parse_plan
from .plan_lint import quoted
from .violations import escape_segment

BREAKING, ADDITIVE = "breaking", "additive"
ALL_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
# Lower and upper bounds by family: (rule stem, lower keywords, upper keywords).
BOUNDS = (
    ("range", ("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")),
    ("length", ("minLength",), ("maxLength",)),
    ("item-count", ("minItems",), ("maxItems",)),
    ("property-count", ("minProperties",), ("maxProperties",)),
)
# Keywords that only say what something means: a change to them is documentation.
DOCUMENTATION = ("description", "title", "examples", "$comment", "default")
# Keywords compared by a rule of their own; a change to any other is `schema-changed`.
_HANDLED = frozenset(
    {"type", "enum", "const", "pattern", "format", "properties", "required", "items"}
    | {"additionalProperties", "pii", *DOCUMENTATION}
    | {keyword for _, lows, highs in BOUNDS for keyword in (*lows, *highs)}
)


@dataclass(frozen=True)
class Change:
    """One change. path: a JSON pointer into the new document (into the old one for what
    was removed); before/after: the values compared (None when absent)."""

    kind: str
    rule: str
    path: str
    event: str | None
    property: str | None
    message: str
    before: Any
    after: Any


@dataclass(frozen=True)
class DiffReport:
    changes: list[Change]

    def to_dict(self, against_version: int | None) -> dict[str, Any]:
        """The API's answer (docs/plan-checks.md)."""
        return {
            "against_version": against_version,
            "changes": [asdict(c) for c in self.changes],
            "breaking": sum(c.kind == BREAKING for c in self.changes),
            "additive": sum(c.kind == ADDITIVE for c in self.changes),
        }


def diff_plans(before: dict[str, Any] | None, after: Any, *, saving: bool = True) -> DiffReport:
    """The changes from plan document `before` (None: no plan yet) to `after`.

    PlanError when `after` does not parse (saving: with the caps a new version must meet);
    `before` is a stored version, loaded as stored versions are.
    """
    new = parse_plan(after, saving=saving)
    old = parse_plan(before if before is not None else {"events": {}}, saving=False)
    differ = _Differ(new)
    differ.policies(old, new)
    differ.events(old.events, new.events, "events")
    differ.events(old.types, new.types, "types")
    return DiffReport(differ.changes)


class _Differ:
    def __init__(self, new: Plan) -> None:
        self.changes: list[Change] = []
        self.flag_extra = new.additional_properties == "flag"

    def add(self, kind: str, rule: str, where: str, event: str | None, prop: str | None,
            text: str, before: Any, after: Any) -> None:  # fmt: skip
        subject = (
            f"Property {quoted(prop)} of {quoted(event)}"
            if prop
            else f"Event {quoted(event)}"
            if event
            else "Plan"
        )
        self.changes.append(
            Change(kind, rule, where, event, prop, f"{subject}: {text}.", before, after)
        )

    def policies(self, old: Plan, new: Plan) -> None:
        if old.unplanned_events != new.unplanned_events:
            blocks = new.unplanned_events == "block"
            self.add(
                BREAKING if blocks else ADDITIVE,
                "unplanned-events-blocked" if blocks else "unplanned-events-flagged",
                "/unplanned_events",
                None,
                None,
                "unplanned events are now blocked (answered blocked, never stored)"
                if blocks
                else "unplanned events are now stored and flagged instead of blocked",
                old.unplanned_events,
                new.unplanned_events,
            )
        if old.additional_properties != new.additional_properties:
            flags = new.additional_properties == "flag"
            self.add(
                BREAKING if flags else ADDITIVE,
                "additional-properties-flagged" if flags else "additional-properties-allowed",
                "/additional_properties",
                None,
                None,
                "properties the plan does not declare now make an event invalid"
                if flags
                else "properties the plan does not declare are now allowed",
                old.additional_properties,
                new.additional_properties,
            )

    def events(self, old: dict[str, Any], new: dict[str, Any], group: str) -> None:
        typed = group == "types"
        for name in [*new, *(n for n in old if n not in new)]:
            where = f"/{group}/{escape_segment(name)}"
            if name not in new:
                # Without a schema of its own, a typed message (identify, …) passes unchecked.
                rule, kind = (
                    ("type-schema-removed", ADDITIVE) if typed else ("event-removed", BREAKING)
                )
                text = (
                    "no longer has a schema: its messages pass unchecked"
                    if typed
                    else "removed from the plan: events of this name become unplanned"
                )
                self.add(kind, rule, where, name, None, text, old[name], None)
            elif name not in old:
                rule, kind = ("type-schema-added", BREAKING) if typed else ("event-added", ADDITIVE)
                text = (
                    "now has a schema: its messages, unchecked until now, are checked"
                    if typed
                    else "added to the plan"
                )
                self.add(kind, rule, where, name, None, text, None, new[name])
            else:
                self.node(old[name], new[name], where, name, "")

    def node(self, old: Any, new: Any, where: str, event: str, prefix: str) -> None:
        """Compare one schema (an event's, a property's, array elements') and below it."""
        old, new = _as_dict(old), _as_dict(new)
        prop = prefix or None
        self.documentation(old, new, where, event, prop)
        self.types(old, new, where, event, prop)
        self.values(old, new, where, event, prop)
        for keyword in ("pattern", "format"):
            self.string_rule(keyword, old, new, where, event, prop)
        for stem, lows, highs in BOUNDS:
            for keyword in lows:
                self.bound(stem, keyword, True, old, new, where, event, prop)
            for keyword in highs:
                self.bound(stem, keyword, False, old, new, where, event, prop)
        self.extra_properties(old, new, where, event, prop)
        self.personal_data(old, new, where, event, prop)
        self.properties(old, new, where, event, prefix)
        self.items(old, new, where, event, prefix)
        for keyword in sorted((set(old) | set(new)) - _HANDLED):
            if old.get(keyword) != new.get(keyword):
                self.add(
                    BREAKING,
                    "schema-changed",
                    f"{where}/{escape_segment(keyword)}",
                    event,
                    prop,
                    f"{keyword} changed (not compared rule by rule, so taken as breaking)",
                    old.get(keyword),
                    new.get(keyword),
                )

    def documentation(self, old: dict, new: dict, where: str, event: str, prop: str | None) -> None:
        for keyword in DOCUMENTATION:
            if old.get(keyword) != new.get(keyword):
                self.add(
                    ADDITIVE,
                    "documentation-changed",
                    f"{where}/{keyword}",
                    event,
                    prop,
                    f"{keyword} changed (validation is the same)",
                    old.get(keyword),
                    new.get(keyword),
                )

    def personal_data(self, old: dict, new: dict, where: str, event: str, prop: str | None) -> None:
        """`"pii": true` allows personal data below it (app/validation/pii.py): allowing it
        removes findings, disallowing adds them (and fails events under a `fail` policy)."""
        before, after = old.get("pii") is True, new.get("pii") is True
        if before == after:
            return
        self.add(
            BREAKING if before else ADDITIVE,
            "pii-disallowed" if before else "pii-allowed",
            f"{where}/pii",
            event,
            prop,
            "may no longer hold personal data" if before else "may hold personal data now",
            old.get("pii"),
            new.get("pii"),
        )

    def types(self, old: dict, new: dict, where: str, event: str, prop: str | None) -> None:
        before, after = _type_set(old), _type_set(new)
        if before == after:
            return
        widened = before <= after
        self.add(
            ADDITIVE if widened else BREAKING,
            "type-widened" if widened else "type-narrowed",
            f"{where}/type",
            event,
            prop,
            f"type {_types_text(old)} → {_types_text(new)}",
            old.get("type"),
            new.get("type"),
        )

    def values(self, old: dict, new: dict, where: str, event: str, prop: str | None) -> None:
        before, after = _allowed(old), _allowed(new)
        if before is None and after is None:
            return
        if before is not None and after is not None:
            old_keys, new_keys = {json_key(v) for v in before}, {json_key(v) for v in after}
            if old_keys == new_keys:
                return
            widened = old_keys <= new_keys
            removed = [v for v in before if json_key(v) not in new_keys]
            added = [v for v in after if json_key(v) not in old_keys]
            text = "; ".join(
                part
                for part in (
                    f"allows no more {_shown(removed)}" if removed else "",
                    f"now allows {_shown(added)}" if added else "",
                )
                if part
            )
        else:
            widened = after is None
            text = "any value allowed now" if widened else f"only {_shown(after)} allowed now"
        keyword = "enum" if "enum" in new or "enum" in old and "const" not in new else "const"
        self.add(
            ADDITIVE if widened else BREAKING,
            "enum-widened" if widened else "enum-narrowed",
            f"{where}/{keyword}",
            event,
            prop,
            text,
            before,
            after,
        )

    def string_rule(
        self, keyword: str, old: dict, new: dict, where: str, event: str, prop: str | None
    ) -> None:
        """pattern and format: two regular expressions (or formats) cannot be compared, so
        any change but a removal is breaking."""
        before, after = old.get(keyword), new.get(keyword)
        if before == after:
            return
        if after is None:
            kind, rule, text = ADDITIVE, f"{keyword}-removed", f"{keyword} {before!r} removed"
        elif before is None:
            kind, rule, text = BREAKING, f"{keyword}-added", f"new {keyword} {after!r}"
        else:
            kind, rule, text = BREAKING, f"{keyword}-changed", f"{keyword} {before!r} → {after!r}"
        self.add(kind, rule, f"{where}/{keyword}", event, prop, text, before, after)

    def bound(
        self,
        stem: str,
        keyword: str,
        lower: bool,
        old: dict,
        new: dict,
        where: str,
        event: str,
        prop: str | None,
    ) -> None:
        before, after = _number(old, keyword), _number(new, keyword)
        if before == after:
            return
        if before is None or after is None:
            narrowed = before is None
        else:
            narrowed = after > before if lower else after < before
        shown = lambda v: "none" if v is None else json.dumps(v)  # noqa: E731
        self.add(
            BREAKING if narrowed else ADDITIVE,
            f"{stem}-narrowed" if narrowed else f"{stem}-widened",
            f"{where}/{keyword}",
            event,
            prop,
            f"{keyword} {shown(before)} → {shown(after)}",
            before,
            after,
        )

    def extra_properties(
        self, old: dict, new: dict, where: str, event: str, prop: str | None
    ) -> None:
        """additionalProperties: false set or dropped on one object (a schema value there is
        compared as a whole, below)."""
        before, after = old.get("additionalProperties"), new.get("additionalProperties")
        if before == after or isinstance(before, dict) or isinstance(after, dict):
            if before != after:
                self.add(
                    BREAKING,
                    "schema-changed",
                    f"{where}/additionalProperties",
                    event,
                    prop,
                    "additionalProperties changed (not compared rule by rule, so taken as "
                    "breaking)",
                    before,
                    after,
                )
            return
        forbids = after is False
        if forbids == (before is False):
            return  # absent and true mean the same
        self.add(
            BREAKING if forbids else ADDITIVE,
            "extra-properties-forbidden" if forbids else "extra-properties-allowed",
            f"{where}/additionalProperties",
            event,
            prop,
            "undeclared properties now make the event invalid"
            if forbids
            else "undeclared properties are now allowed",
            before,
            after,
        )

    def properties(self, old: dict, new: dict, where: str, event: str, prefix: str) -> None:
        old_props, new_props = _dict(old.get("properties")), _dict(new.get("properties"))
        old_required, new_required = _names(old.get("required")), _names(new.get("required"))
        # What this object does with properties it does not declare, under the new plan.
        flags = new.get("additionalProperties") is False or (
            "additionalProperties" not in new
            and self.flag_extra
            and isinstance(new.get("properties"), dict)
        )
        for name in [*new_props, *(n for n in old_props if n not in new_props)]:
            path = f"{where}/properties/{escape_segment(name)}"
            child = f"{prefix}.{name}" if prefix else name
            if name not in new_props:
                text = (
                    "removed; undeclared properties are flagged, so events still sending it "
                    "become invalid"
                    if flags
                    else "removed; undeclared properties are allowed, so events may still send "
                    "it (it is just not checked any more)"
                )
                kind = BREAKING if flags else ADDITIVE
                self.add(kind, "property-removed", path, event, child, text, old_props[name], None)
            elif name not in old_props:
                if name in new_required - old_required:
                    continue  # reported as required-added below
                self.add(
                    ADDITIVE,
                    "property-added",
                    path,
                    event,
                    child,
                    "new optional property",
                    None,
                    new_props[name],
                )
            else:
                self.node(old_props[name], new_props[name], path, event, child)
        for name in sorted(new_required - old_required):
            path = f"{where}/properties/{escape_segment(name)}"
            if name not in new_props:
                path = f"{where}/required/{_names(new.get('required'), ordered=True).index(name)}"
            new_one = name not in old_props
            text = "new required property" if new_one else "now required"
            child = f"{prefix}.{name}" if prefix else name
            after = new_props.get(name) if new_one else True
            self.add(
                BREAKING, "required-added", path, event, child, text, None if new_one else False,
                after,
            )  # fmt: skip
        for name in sorted(old_required - new_required):
            if name not in new_props and name in old_props:
                continue  # reported as property-removed above
            child = f"{prefix}.{name}" if prefix else name
            path = f"{where}/properties/{escape_segment(name)}"
            self.add(ADDITIVE, "required-removed", path, event, child, "no longer required",
                     True, False)  # fmt: skip

    def items(self, old: dict, new: dict, where: str, event: str, prefix: str) -> None:
        before, after = old.get("items"), new.get("items")
        if isinstance(before, list) or isinstance(after, list):
            if before != after:
                self.add(
                    BREAKING,
                    "schema-changed",
                    f"{where}/items",
                    event,
                    prefix or None,
                    "items changed (not compared rule by rule, so taken as breaking)",
                    before,
                    after,
                )
            return
        if before is None and after is None:
            return
        # No `items` means any element: compared as the empty schema.
        self.node(_or_empty(before), _or_empty(after), f"{where}/items", event, f"{prefix}[]")


def _as_dict(schema: Any) -> dict[str, Any]:
    """A boolean schema as the object schema that means the same."""
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    return schema if isinstance(schema, dict) else {}


def _or_empty(schema: Any) -> Any:
    return {} if schema is None else schema


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _names(value: Any, ordered: bool = False) -> Any:
    names = [n for n in value if isinstance(n, str)] if isinstance(value, list) else []
    return names if ordered else set(names)


def _type_set(schema: dict[str, Any]) -> frozenset[str]:
    """The JSON types a schema's `type` allows (all without one; integer within number)."""
    value = schema.get("type")
    if value is None:
        return ALL_TYPES
    types = set(value) if isinstance(value, list) else {value}
    if "number" in types:
        types.add("integer")
    return frozenset(types)


def _types_text(schema: dict[str, Any]) -> str:
    value = schema.get("type")
    if value is None:
        return "any"
    return "/".join(value) if isinstance(value, list) else str(value)


def _allowed(schema: dict[str, Any]) -> list[Any] | None:
    """The values enum or const allows, or None when neither limits them."""
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    if "const" in schema:
        return [schema["const"]]
    return None


def _number(schema: dict[str, Any], key: str) -> float | None:
    value = schema.get(key)
    # Draft-04's boolean exclusiveMinimum is a flag, not a bound (bool is an int to Python).
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _shown(values: list[Any]) -> str:
    text = ", ".join(json.dumps(v, ensure_ascii=False) for v in values[:10])
    more = f" and {len(values) - 10} more" if len(values) > 10 else ""
    return text + more
