"""Lint rules over a tracking plan: what a plan reviewer would flag before publishing.

Pure: a plan document in, findings out. Each finding has a stable rule id, a severity and a
JSON pointer (RFC 6901) into the submitted document. The rules, their severities and the
plan's optional top-level "lint" object are described in docs/plan-checks.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .dialects import json_key
from .event_names import shown_name
from .plan import parse_plan
from .schema_walk import subschemas
from .violations import escape_segment, json_type

ERROR, WARNING = "error", "warning"
CONVENTIONS = {
    "snake_case": r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*",
    "camelCase": r"[a-z][a-zA-Z0-9]*",
    "PascalCase": r"[A-Z][a-zA-Z0-9]*",
    # Title Case words, at least two: the object, then the action ("Order Completed").
    "Object Action": r"[A-Z][a-zA-Z0-9]*(?: (?:[A-Z][a-zA-Z0-9]*|[0-9]+))+",
    "object_action": r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+",
    "kebab-case": r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*",
    "any": r"(?s:.*)",
}
_MATCHERS = {name: re.compile(rf"\A{pattern}\Z") for name, pattern in CONVENTIONS.items()}
DEFAULT_CONVENTION = "any"
# rule id -> severity (docs/plan-checks.md says why each is what it is).
RULES = {
    "lint-config": ERROR,
    "event-name-case": ERROR,
    "property-name-case": ERROR,
    "name-whitespace": ERROR,
    "event-name-collision": ERROR,
    "property-name-collision": ERROR,
    "event-description-missing": WARNING,
    "property-description-missing": WARNING,
    "property-type-missing": ERROR,
    "required-undefined": ERROR,
    "enum-duplicate": ERROR,
    "enum-empty": ERROR,
    "enum-type-mismatch": ERROR,
    "range-crossed": ERROR,
    "length-crossed": ERROR,
    "keyword-type-mismatch": ERROR,
    "pii-flag-type": ERROR,
}
# Keywords that fix what a value may be without a `type`: lint does not chase them.
_TYPE_GIVERS = ("type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf")
# Keywords that only apply to one JSON type, and that type.
_TYPED_KEYWORDS = {
    "pattern": "string",
    "minLength": "string",
    "maxLength": "string",
    "format": "string",
    "minimum": "number",
    "maximum": "number",
    "exclusiveMinimum": "number",
    "exclusiveMaximum": "number",
    "multipleOf": "number",
    "items": "array",
    "minItems": "array",
    "maxItems": "array",
    "uniqueItems": "array",
    "properties": "object",
    "required": "object",
    "minProperties": "object",
    "maxProperties": "object",
}
_COUNT_PAIRS = (("minLength", "maxLength"), ("minItems", "maxItems"))
_COUNT_PAIRS += (("minProperties", "maxProperties"),)
_SEPARATORS = re.compile(r"[\s_\-.:/]+")


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer would flag. event/property name where it is (property as a path
    such as `items[].sku`), None when the finding is about the plan as a whole."""

    severity: str
    rule: str
    path: str
    event: str | None
    property: str | None
    message: str


@dataclass(frozen=True)
class LintReport:
    findings: list[Finding]
    conventions: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """The API's answer (docs/plan-checks.md)."""
        return {
            "findings": [asdict(f) for f in self.findings],
            "errors": sum(f.severity == ERROR for f in self.findings),
            "warnings": sum(f.severity == WARNING for f in self.findings),
            "conventions": self.conventions,
        }


def lint_plan(
    document: Any,
    *,
    event_names: str | None = None,
    property_names: str | None = None,
    saving: bool = True,
) -> LintReport:
    """Lint a plan document (PlanError when it does not parse; ValueError for a convention
    argument that is not one of CONVENTIONS). The arguments override the plan's "lint"."""
    for given in (event_names, property_names):
        if given is not None and given not in CONVENTIONS:
            raise ValueError(f"{given!r} is not a naming convention: {', '.join(CONVENTIONS)}")
    plan = parse_plan(document, saving=saving)
    linter = _Linter()
    config = linter.read_config(plan.raw.get("lint"))
    conventions = {
        "event_names": event_names or config.get("event_names", DEFAULT_CONVENTION),
        "property_names": property_names or config.get("property_names", DEFAULT_CONVENTION),
    }
    linter.property_convention = conventions["property_names"]
    linter.check_names(
        list(plan.events), "/events", "event", conventions["event_names"], event=None
    )
    for group, schemas in (("events", plan.events), ("types", plan.types)):
        for name, schema in schemas.items():
            where = f"/{group}/{escape_segment(name)}"
            if group == "events" and not _described(schema):
                linter.add("event-description-missing", where, name, None, "has no description")
            linter.schema(schema, where, name, prefix="")
    ignored = set(config.get("ignore", ()))
    return LintReport([f for f in linter.findings if f.rule not in ignored], conventions)


class _Linter:
    def __init__(self) -> None:
        self.findings: list[Finding] = []
        self.property_convention = DEFAULT_CONVENTION

    def add(self, rule: str, path: str, event: str | None, prop: str | None, text: str) -> None:
        subject = (
            f"Property {quoted(prop)} of {quoted(event)}" if prop else f"Event {quoted(event)}"
        )
        if event is None:
            subject = "The plan's lint settings:"
        self.findings.append(Finding(RULES[rule], rule, path, event, prop, f"{subject} {text}."))

    def read_config(self, config: Any) -> dict[str, Any]:
        """The usable settings of the plan's "lint" object; a finding for each unusable one."""
        if config is None:
            return {}
        if not isinstance(config, dict):
            self.add(
                "lint-config",
                "/lint",
                None,
                None,
                f"lint must be an object, not {json_type(config)}",
            )
            return {}
        usable: dict[str, Any] = {}
        for key, value in config.items():
            where = f"/lint/{escape_segment(key)}"
            if key in ("event_names", "property_names"):
                if isinstance(value, str) and value in CONVENTIONS:
                    usable[key] = value
                else:
                    self.add(
                        "lint-config",
                        where,
                        None,
                        None,
                        f"{key} {value!r} is not one of {', '.join(CONVENTIONS)}",
                    )
            elif key == "ignore" and isinstance(value, list):
                known = [rule for rule in value if isinstance(rule, str) and rule in RULES]
                for index, rule in enumerate(value):
                    if rule not in known:
                        self.add(
                            "lint-config",
                            f"{where}/{index}",
                            None,
                            None,
                            f"ignore lists {rule!r}, which is no rule id",
                        )
                usable[key] = known
            elif key == "ignore":
                self.add("lint-config", where, None, None, "ignore must be a list of rule ids")
            else:
                settings = "event_names, property_names, ignore"
                self.add("lint-config", where, None, None, f"{key!r} is no setting ({settings})")
        return usable

    def check_names(
        self, names: list[str], where: str, kind: str, convention: str, event: str | None
    ) -> None:
        """Whitespace, convention and collisions of the names of one object (events, or one
        schema's properties); `where` is the pointer of the object holding them."""
        seen: dict[str, str] = {}
        for name in names:
            path = f"{where}/{escape_segment(name)}"
            owner, prop = (name, None) if kind == "event" else (event, name)
            if name != name.strip():
                self.add("name-whitespace", path, owner, prop, "has leading or trailing whitespace")
            elif not _MATCHERS[convention].match(name):
                self.add(f"{kind}-name-case", path, owner, prop, f"is not {convention}")
            folded = _SEPARATORS.sub("", name.casefold())
            if folded in seen:
                text = f"differs from {quoted(seen[folded])} only by case or separators"
                self.add(f"{kind}-name-collision", path, owner, prop, text)
            else:
                seen[folded] = name

    def schema(self, node: Any, where: str, event: str, prefix: str, defining: bool = True) -> None:
        """Check one schema and everything below it. prefix: the property path of node.

        defining: node is reached through properties and items only, so its properties are
        definitions; under allOf, if/then and the like they restate or constrain properties
        defined elsewhere, and only their keywords are checked (no names, descriptions, types).
        """
        if not isinstance(node, dict):
            return
        prop = prefix or None
        self.keywords(node, where, event, prop)
        properties = node.get("properties")
        if isinstance(properties, dict):
            if defining:
                names = list(properties)
                convention = self.property_convention
                self.check_names(names, f"{where}/properties", "property", convention, event)
                self.required(node, properties, where, event, prop)
            for name, sub in properties.items():
                path = f"{where}/properties/{escape_segment(name)}"
                child = _join(prefix, name)
                if defining:
                    self.value(sub, path, event, child, described=True)
                self.schema(sub, path, event, child, defining)
        items = node.get("items")
        if isinstance(items, dict):
            if defining:
                self.value(items, f"{where}/items", event, f"{prefix}[]", described=False)
            self.schema(items, f"{where}/items", event, f"{prefix}[]", defining)
        for sub_path, sub in _other_subschemas(node):
            self.schema(sub, f"{where}/{sub_path}", event, prefix, defining=False)

    def value(self, node: Any, where: str, event: str, prop: str, described: bool) -> None:
        """A property's (or array elements') schema: it should say its type and meaning."""
        if node is False:
            return  # the property is forbidden: nothing to describe
        if described and not (isinstance(node, dict) and _described(node)):
            self.add("property-description-missing", where, event, prop, "has no description")
        if node is True or isinstance(node, dict) and not any(k in node for k in _TYPE_GIVERS):
            self.add("property-type-missing", where, event, prop, "has no type: any value passes")

    def required(
        self,
        node: dict[str, Any],
        properties: dict[str, Any],
        where: str,
        event: str,
        prop: str | None,
    ) -> None:
        required = node.get("required")
        if not isinstance(required, list) or "patternProperties" in node:
            return
        for index, name in enumerate(required):
            if name not in properties:
                owner = f"'{prop}'" if prop else "the event"
                text = f"is required by {owner} but not defined in its properties"
                self.add(
                    "required-undefined",
                    f"{where}/required/{index}",
                    event,
                    _join(prop, name),
                    text,
                )

    def keywords(self, node: dict[str, Any], where: str, event: str, prop: str | None) -> None:
        """Rules about one schema's own keywords: enum, bounds, keywords its type ignores."""
        types = _types(node.get("type"))
        enum = node.get("enum")
        if isinstance(enum, list):
            if not enum:
                self.add(
                    "enum-empty", f"{where}/enum", event, prop, "has an empty enum: no value passes"
                )
            seen: set[Any] = set()
            for index, value in enumerate(enum):
                key = json_key(value)
                if key in seen:
                    self.add(
                        "enum-duplicate",
                        f"{where}/enum/{index}",
                        event,
                        prop,
                        f"lists {_shown(value)} twice in its enum",
                    )
                seen.add(key)
                if types is not None and not _fits(value, types):
                    text = f"allows {_shown(value)}, which its type {_or(types)} never passes"
                    self.add("enum-type-mismatch", f"{where}/enum/{index}", event, prop, text)
        self.bounds(node, where, event, prop)
        if "pii" in node and not isinstance(node["pii"], bool):
            text = f'has "pii": {_shown(node["pii"])}; it is true (may hold personal data) or false'
            self.add("pii-flag-type", f"{where}/pii", event, prop, text)
        if types is None:
            return
        for keyword, applies_to in _TYPED_KEYWORDS.items():
            if keyword in node and not _fits_type(applies_to, types):
                text = (
                    f"has {keyword}, which applies to {applies_to}s only, but its type is "
                    f"{_or(types)}: it is never checked"
                )
                self.add("keyword-type-mismatch", f"{where}/{keyword}", event, prop, text)

    def bounds(self, node: dict[str, Any], where: str, event: str, prop: str | None) -> None:
        low, low_key = _number(node, "minimum"), "minimum"
        if _number(node, "exclusiveMinimum") is not None:
            low, low_key = node["exclusiveMinimum"], "exclusiveMinimum"
        high, high_key = _number(node, "maximum"), "maximum"
        if _number(node, "exclusiveMaximum") is not None:
            high, high_key = node["exclusiveMaximum"], "exclusiveMaximum"
        if low is not None and high is not None:
            exclusive = "exclusive" in low_key + high_key
            if low > high or exclusive and low == high:
                text = f"has {low_key} {low} above {high_key} {high}: no number passes"
                self.add("range-crossed", f"{where}/{low_key}", event, prop, text)
        for low_key, high_key in _COUNT_PAIRS:
            low, high = _number(node, low_key), _number(node, high_key)
            if low is not None and high is not None and low > high:
                text = f"has {low_key} {low} above {high_key} {high}: no value passes"
                self.add("length-crossed", f"{where}/{low_key}", event, prop, text)


def _other_subschemas(node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Subschemas besides properties and items (allOf, additionalProperties, …), so their
    keywords are checked too, with their pointer relative to node."""
    for path, sub in subschemas(node):
        if path[0] not in ("properties", "items") or path[0] == "items" and len(path) == 2:
            yield "/".join(escape_segment(part) for part in path), sub


def _described(node: dict[str, Any]) -> bool:
    description = node.get("description")
    return isinstance(description, str) and bool(description.strip())


def _types(value: Any) -> set[str] | None:
    """The declared JSON types, or None when the schema declares none (or declares oddly)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    return None


def _fits_type(kind: str, types: set[str]) -> bool:
    return kind in types or kind == "number" and "integer" in types


def _fits(value: Any, types: set[str]) -> bool:
    kind = json_type(value)
    if kind == "number" and float(value).is_integer():
        kind = "integer"  # 1.0 is an integer to JSON Schema
    return kind in types or kind == "integer" and "number" in types


def _number(node: dict[str, Any], key: str) -> float | None:
    value = node.get(key)
    # Booleans are ints to Python; draft-04's exclusiveMinimum: true is not a bound.
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _join(prefix: str | None, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:59] + "…"


def _or(types: set[str]) -> str:
    return "/".join(sorted(types))


def quoted(name: str | None) -> str:
    """A name for a message: in single quotes, cut at 100 characters, invisible characters
    escaped (shown_name; it double-quotes a name with spaces at an end, which is kept)."""
    text = shown_name(name or "")
    return text if text.startswith('"') and not (name or "").startswith('"') else f"'{text}'"
