"""The language-neutral model of a tracking plan that every generator renders.

build_model() reads a plan document (app.validation's parse_plan checks it) and returns a
TrackingModel: one Event per planned event, in event-name order, each pointing at an ObjectDef
of its properties; nested objects and string enums become named definitions (ObjectDef, EnumDef)
referenced by Ref. Every identifier is ASCII, valid in TypeScript, Python, Kotlin and Swift,
not a keyword of any of them, unique in its scope and at most MAX_IDENTIFIER characters (plus a
counter); wire names stay exact. What a type system
cannot say (patterns, ranges, formats, ...) is kept as text in `rules`, for doc comments.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from app.validation import PlanError, parse_plan
from app.validation.schema_walk import resolve_ref
from app.validation.violations import json_type

Scalar = str | int | float | bool | None
PrimitiveKind = Literal["string", "number", "integer", "boolean", "null"]
PRIMITIVE_KINDS: tuple[PrimitiveKind, ...] = ("string", "number", "integer", "boolean", "null")


class CodegenError(ValueError):
    """Code cannot be generated: unknown language, or a malformed plan (the message says)."""


@dataclass(frozen=True)
class CodeFile:
    """One generated source file. path is relative and "/"-separated, never leaving its folder."""

    path: str
    content: str

    def __post_init__(self) -> None:
        parts = self.path.split("/")
        if not self.path or self.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"Unsafe generated file path {self.path!r}")


@dataclass(frozen=True)
class Names:
    """One name in each convention; each is a valid, non-reserved identifier, unique in its
    scope (uniqueness is per convention: camel names are unique among camel names)."""

    camel: str  # purchaseCompleted
    pascal: str  # PurchaseCompleted
    snake: str  # purchase_completed
    constant: str  # PURCHASE_COMPLETED


# ---- Types: a tree of these nodes; objects and string enums are definitions, named by Ref.


@dataclass(frozen=True)
class Primitive:
    """string, number (any JSON number, integers included), integer, boolean or null."""

    kind: PrimitiveKind


@dataclass(frozen=True, eq=False)
class Const:
    """Exactly this scalar value (JSON Schema const, or one member of a non-string enum)."""

    value: Scalar

    @property
    def kind(self) -> PrimitiveKind:
        """The primitive type of the value, for languages without literal types."""
        return const_kind(self.value)

    # By type too: in Python True == 1, but JSON's true is not 1.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Const) and (self.kind, self.value) == (other.kind, other.value)

    def __hash__(self) -> int:
        return hash((self.kind, self.value))


@dataclass(frozen=True)
class ArrayOf:
    items: TypeNode


@dataclass(frozen=True)
class UnionOf:
    """Any of the variants (anyOf/oneOf, a list of types, nullable: a variant is null)."""

    variants: tuple[TypeNode, ...]


@dataclass(frozen=True)
class AnyValue:
    """Any JSON value: the plan does not say (or says something no type here expresses)."""


@dataclass(frozen=True)
class Ref:
    """A named definition of the model (an ObjectDef or an EnumDef); may be recursive."""

    name: str


TypeNode = Primitive | Const | ArrayOf | UnionOf | AnyValue | Ref


@dataclass(frozen=True)
class EnumCase:
    value: str  # exact wire value
    names: Names  # unique within its enum


@dataclass(frozen=True)
class EnumDef:
    """A string enum (a schema's enum whose members are all strings)."""

    name: str  # PascalCase type name, unique in the model
    cases: tuple[EnumCase, ...]
    description: str | None = None


@dataclass(frozen=True)
class Property:
    wire_name: str  # exact key sent
    names: Names  # unique within its object
    type: TypeNode
    required: bool
    description: str | None = None
    rules: tuple[str, ...] = ()  # checked by the service only, as text


@dataclass(frozen=True)
class ObjectDef:
    """An object with declared properties (in wire-name order)."""

    name: str  # PascalCase type name, unique in the model
    properties: tuple[Property, ...]
    additional: bool  # may the object carry keys it does not declare
    description: str | None = None
    rules: tuple[str, ...] = ()
    # The type of undeclared keys' values when additionalProperties is a schema (its rule is
    # also in rules): an object that declares no property is then a map to this type.
    values: TypeNode | None = None


Definition = ObjectDef | EnumDef


@dataclass(frozen=True)
class Event:
    name: str  # exact event name sent
    names: Names  # unique among the events
    properties: str  # name of its ObjectDef
    description: str | None = None


@dataclass(frozen=True)
class TrackingModel:
    events: tuple[Event, ...]  # sorted by event name
    definitions: tuple[Definition, ...]  # a definition comes after those it uses (but cycles)
    plan_version: int | None  # None: a draft
    app_name: str | None = None
    _by_name: dict[str, Definition] = field(default_factory=dict, compare=False, repr=False)

    def definition(self, name: str) -> Definition:
        """The definition a Ref names (KeyError if there is none: a bug of the model)."""
        if not self._by_name:
            self._by_name.update((d.name, d) for d in self.definitions)
        return self._by_name[name]

    def object(self, name: str) -> ObjectDef:
        found = self.definition(name)
        if not isinstance(found, ObjectDef):
            raise TypeError(f"{name} is an enum, not an object")
        return found

    def header_lines(self, language: str) -> list[str]:
        """The lines every generated file starts with (plain text: wrap them in comments)."""
        source = (
            f"plan version {self.plan_version}"
            if self.plan_version is not None
            else "a draft plan (not a published version)"
        )
        app = f" of app {one_line(self.app_name)}" if self.app_name else ""
        plan_file = " PLAN_FILE" if self.plan_version is None else ""  # a draft comes from a file
        return [
            f"Generated by the Live Validation Dashboard from {source}{app}.",
            "Do not edit: regenerate with",
            f"  lvd codegen --language {language} --out DIR{plan_file}",
        ]


def const_kind(value: Scalar) -> PrimitiveKind:
    """The JSON type of a constant (a scalar, so one of the primitive kinds)."""
    return json_type(value)  # type: ignore[return-value]


def without_null(node: TypeNode) -> tuple[TypeNode | None, bool]:
    """(the node without its null variant, whether null was allowed); (None, True) for null."""
    if node == Primitive("null"):
        return None, True
    if isinstance(node, UnionOf) and Primitive("null") in node.variants:
        rest = tuple(v for v in node.variants if v != Primitive("null"))
        return (rest[0] if len(rest) == 1 else UnionOf(rest)), True
    return node, False


def inline_maps(model: TrackingModel) -> dict[str, TypeNode]:
    """The objects a language may write as a map type (Map<String, T>, [String: T]) with T
    spelled out: those declaring no property but a schema for every key's value, unless
    spelling T out would reach the map again (a map of itself, or maps of each other in a
    cycle): those stay a plain JSON object type, or writing T would never end."""
    maps = {
        d.name: d.values
        for d in model.definitions
        if isinstance(d, ObjectDef) and not d.properties and d.values is not None
    }
    edges = {
        name: {ref for ref in _refs_in(values) if ref in maps} for name, values in maps.items()
    }
    inline = {}
    for name, values in maps.items():
        seen: set[str] = set()
        todo = list(edges[name])
        while todo and name not in seen:
            ref = todo.pop()
            if ref not in seen:
                seen.add(ref)
                todo.extend(edges[ref])
        if name not in seen:
            inline[name] = values
    return inline


def _refs_in(node: TypeNode) -> list[str]:
    """The names node refers to, inside arrays and unions too."""
    if isinstance(node, Ref):
        return [node.name]
    if isinstance(node, ArrayOf):
        return _refs_in(node.items)
    if isinstance(node, UnionOf):
        return [ref for v in node.variants for ref in _refs_in(v)]
    return []


# ---- Text for comments and literals.

# Everything str.splitlines() breaks at, and the other controls, would end a line comment in
# some language (U+2028/U+2029 end a // comment in JavaScript).
# Lone surrogates (possible in a parsed JSON string) cannot be written as UTF-8.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def doc_lines(text: str | None) -> list[str]:
    """A description as lines with no line breaks or control characters in them (comment
    terminators such as */ are each generator's to escape)."""
    if not text:
        return []
    lines = [_CONTROLS.sub(" ", line).rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return lines


def paragraphs(*parts: list[str]) -> list[str]:
    """Non-empty parts joined with blank lines (a doc comment's paragraphs)."""
    lines: list[str] = []
    for part in parts:
        if part:
            lines += ([""] if lines else []) + part
    return lines


def service_rules(rules: Iterable[str]) -> str | None:
    """The sentence listing the rules only the service checks, or None when there are none."""
    found = [one_line(rule) for rule in rules]
    return f"Checked by the service: {'; '.join(found)}." if found else None


def one_line(text: str) -> str:
    """text on one line, fit for a line comment."""
    return " ".join(_CONTROLS.sub(" ", part).strip() for part in text.splitlines()).strip()


# ---- Identifiers.

# Keywords (and names that break generated code when used as members) of TypeScript/JavaScript,
# Python, Kotlin and Swift: an identifier equal to one gets a trailing underscore.
RESERVED = frozenset(
    """
    abstract any arguments as assert async await boolean break byte case catch char class const
    constructor continue debugger declare default delete do double else enum eval export extends
    false final finally float for from function get goto if implements import in infer instanceof
    int interface is keyof let long module namespace native never new null number object of
    package private protected public readonly require return set short static string super switch
    symbol synchronized this throw throws transient true try type typeof undefined unique unknown
    var void volatile while with yield prototype __proto__ toString valueOf hasOwnProperty
    and def del elif except global lambda nonlocal not or pass raise None True False match
    print self cls str bytes list dict tuple float bool
    actual annotation companion crossinline data dynamic expect external field file fun infix init
    inline inner internal lateinit noinline open operator out override reified sealed suspend
    tailrec typealias val value vararg where it by constructor Unit Nothing Any String Int Long
    Double Boolean Float List Map Set Array equals hashCode copy
    associatedtype deinit extension fileprivate func inout init let operator precedencegroup
    protocol repeat rethrows Self self struct subscript Type Protocol defer fallthrough guard
    some convenience didSet willSet lazy mutating nonmutating optional required unowned weak
    indirect prefix postfix left right none Bool Optional description hashValue
    Record Promise Partial Required Readonly Pick Omit Exclude Extract Literal Final TypedDict
    NotRequired Protocol Mapping Sequence Union Callable TypeVar Generic track analytics
    when nil rawValue stringValue intValue borrowing consuming nonisolated
    """.split()
)
# Type names the generators declare themselves, kept out of the model's type names.
GENERATED_TYPE_NAMES = frozenset(
    {
        "BrowserAnalytics",
        "NodeAnalytics",
        "NodeTrackMessage",
        "NodeIdentity",
        "NodeTrackExtra",
        "BrowserTrackOptions",
        "PlanEvents",
        "EventName",
        "BrowserTracker",
        "NodeTracker",
        "JsonValue",
        "SegmentClient",
        "TrackOptions",
        "TrackingPlan",
        "Analytics",
        "JsonObject",
        "JsonElement",
        "Any",
        "Codable",
        "Encodable",
        "Decodable",
        "JsonArray",
        "JsonPrimitive",
        "JsonNull",
        "LinkedHashMap",
        "JSON",
        "Encoder",
        "CodingKey",
        "CodingKeys",
        "TrackingPlanKt",  # the JVM class of TrackingPlan.kt's top-level functions
    }
)

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+[a-z]*")


def words(text: str) -> list[str]:
    """The ASCII words of text: accents dropped, split at non-alphanumerics and camelCase."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _WORDS.findall(ascii_text)


# Kotlin writes one .class file per class, named after it (plus "$Companion" and the like), and
# file names end at 255 bytes: longer names are cut, with a hash of the whole name to stay
# distinct. _Scope's suffixes ("2", "_3") may add a few characters.
MAX_IDENTIFIER = 100
_HASH_CHARS = 8


def _safe(name: str) -> str:
    if name[0].isdigit():
        name = "_" + name
    if len(name) > MAX_IDENTIFIER:
        digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH_CHARS]
        sep = "_" if "_" in name[1:] else ""
        digest = digest.upper() if name.isupper() else digest
        name = name[: MAX_IDENTIFIER - _HASH_CHARS - len(sep)] + sep + digest
    return name + "_" if name in RESERVED else name


def base_names(text: str, fallback: str) -> Names:
    """Names of text in each convention before uniqueness (fallback when text has no words)."""
    found = words(text) or [fallback]
    lower = [w.lower() for w in found]
    pascal = "".join(w[:1].upper() + w[1:] for w in lower)
    camel = lower[0] + pascal[len(lower[0]) :]
    snake = "_".join(lower)
    return Names(_safe(camel), _safe(pascal), _safe(snake), _safe(snake.upper()))


def _hint(text: str, fallback: str) -> str:
    """text in PascalCase, to build a type name from (type_name() makes the whole safe)."""
    return "".join(w[:1].upper() + w[1:].lower() for w in words(text) or [fallback])


class _Scope:
    """Hands out names unique within one scope, per convention; suffixes count from 2.

    Per base name the next suffix to try is kept, so N names that all convert to one base
    cost O(N) look-ups, not O(N^2) (`probes` counts them, for a test)."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self._taken: dict[str, set[str]] = {c: set(taken) for c in ("camel", "snake", "constant")}
        self._taken["pascal"] = {name.lower() for name in taken}
        self._next: dict[tuple[str, str], int] = {}
        self.probes = 0

    def _claim(self, convention: str, name: str) -> str:
        taken = self._taken[convention]
        sep = "_" if convention in ("snake", "constant") and not name.endswith("_") else ""
        # Type names become file names on the JVM (one .class file per Kotlin class): two that
        # differ only in case would overwrite each other on macOS and Windows file systems.
        fold = str.lower if convention == "pascal" else str
        key = (convention, fold(name))
        n = self._next.get(key, 1)  # 1: the name itself, then suffixes 2, 3, ...
        while True:
            candidate = name if n == 1 else f"{name}{sep}{n}"
            self.probes += 1
            if fold(candidate) not in taken:
                break
            n += 1
        self._next[key] = n + 1
        taken.add(fold(candidate))
        return candidate

    def names(self, text: str, fallback: str) -> Names:
        base = base_names(text, fallback)
        return Names(
            camel=self._claim("camel", base.camel),
            pascal=self._claim("pascal", base.pascal),
            snake=self._claim("snake", base.snake),
            constant=self._claim("constant", base.constant),
        )

    def type_name(self, pascal: str) -> str:
        return self._claim("pascal", _safe(pascal))


# ---- Reading schemas.

# Keywords the generated types express (or that say nothing about values); every other keyword
# of a schema is listed in `rules` as text, for the service to check.
_EXPRESSED = frozenset(
    {
        "type",
        "properties",
        "required",
        "items",
        "enum",
        "const",
        "$ref",
        "description",
        "title",
        "$schema",
        "$id",
        "id",
        "$comment",
        "definitions",
        "$defs",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "pii",
    }
)
_RULE_TEXT_MAX = 160


def _rule(keyword: str, value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if len(text) > _RULE_TEXT_MAX:
        text = text[: _RULE_TEXT_MAX - 1] + "…"
    return f"{keyword} {text}"


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _looks_like_object(schema: dict[str, Any]) -> bool:
    kinds = schema.get("type")
    if kinds == "object" or (isinstance(kinds, list) and "object" in kinds):
        return True
    return kinds is None and any(k in schema for k in ("properties", "required"))


class _Builder:
    """Builds the model's types for one plan; one instance per build_model call."""

    def __init__(self) -> None:
        self.types = _Scope(GENERATED_TYPE_NAMES)
        self.definitions: list[Definition] = []

    # One event: refs resolve within the event's own schema.
    def event(self, name: str, names: Names, schema: dict[str, Any]) -> Event:
        self._root = schema
        self._refs: dict[str, tuple[TypeNode, tuple[str, ...]]] = {}
        self._resolving: set[str] = set()
        type_name = self.types.type_name(names.pascal + "Properties")
        self._refs[""] = (Ref(type_name), ())  # "#" refers to the event's properties
        body = schema
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#") and "properties" not in schema:
            target = resolve_ref(schema, ref)  # the event's properties are defined there
            if isinstance(target, dict) and _looks_like_object(target):
                body = target
                self._refs[ref[1:]] = self._refs[""]
        self._object(body, type_name, names.pascal)
        return Event(name, names, type_name, _description(schema) or _description(body))

    def _object(self, schema: dict[str, Any], type_name: str, hint: str) -> Ref:
        """Define schema as an object named type_name (its non-object parts become rules)."""
        rules: list[str] = []
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        declared = schema.get("properties", {})
        scope = _Scope()
        props: list[Property] = []
        for wire in sorted(set(declared) | set(required)):
            sub = declared.get(wire, True)
            if sub is False:
                rules.append(f"property {json.dumps(wire, ensure_ascii=False)} must not be sent")
                continue
            prop_names = scope.names(wire, "property")
            prop_rules: list[str] = []
            node = self.node(sub, hint + _hint(wire, "Property"), prop_rules, "")
            props.append(
                Property(
                    wire_name=wire,
                    names=prop_names,
                    type=node,
                    required=wire in required,
                    description=_description(sub),
                    rules=tuple(prop_rules),
                )
            )
        additional = schema.get("additionalProperties", True) is not False
        extra = schema.get("additionalProperties")
        values = self.node(extra, hint + "Value", [], "") if isinstance(extra, dict) else None
        self._rules_of(schema, rules, "", skip={"type"})
        kinds = schema.get("type")
        if kinds is not None and "object" not in ([kinds] if isinstance(kinds, str) else kinds):
            rules.append(_rule("type", kinds))
        description = _description(schema)
        self.definitions.append(
            ObjectDef(type_name, tuple(props), additional, description, tuple(rules), values)
        )
        return Ref(type_name)

    def node(self, schema: Any, hint: str, rules: list[str], where: str) -> TypeNode:
        """The type of schema; rules it cannot express are appended (prefixed by where)."""
        if schema is True or schema == {}:
            return AnyValue()
        if not isinstance(schema, dict):  # False is handled by the object holding it
            rules.append(_rule(where + "schema", schema))
            return AnyValue()
        if "$ref" in schema:
            return self._ref(schema, hint, rules, where)
        if "enum" in schema:
            return self._enum(schema, hint, rules, where)
        if "const" in schema:
            self._rules_of(schema, rules, where, skip={"type"})
            if _is_scalar(schema["const"]):
                return Const(schema["const"])
            rules.append(_rule(where + "const", schema["const"]))
            return AnyValue()
        kinds = schema.get("type")
        if kinds is None:
            if _looks_like_object(schema):
                kinds = "object"
            elif "items" in schema:
                kinds = "array"
            else:
                return self._combination(schema, hint, rules, where)
        variants: list[TypeNode] = []
        kind_list = [kinds] if isinstance(kinds, str) else list(kinds)
        for kind in kind_list:
            if kind == "object":
                variants.append(self._object(schema, self.types.type_name(hint), hint))
            elif kind == "array":
                variants.append(self._array(schema, hint, rules, where))
            elif kind in PRIMITIVE_KINDS:
                variants.append(Primitive(kind))
        if "object" not in kind_list:  # else the object definition lists the rules
            self._rules_of(schema, rules, where)
        return _union(variants)

    def _combination(
        self, schema: dict[str, Any], hint: str, rules: list[str], where: str
    ) -> TypeNode:
        """A schema without type: anyOf/oneOf become a union, allOf of one its member."""
        for keyword in ("anyOf", "oneOf"):
            members = schema.get(keyword)
            if isinstance(members, list) and members:
                self._rules_of(schema, rules, where, skip={keyword})
                variants = [
                    self.node(
                        m,
                        f"{hint}{i + 1}" if len(members) > 1 else hint,
                        rules,
                        f"{where}{keyword}[{i}]: ",
                    )
                    for i, m in enumerate(members)
                ]
                return _union(variants)
        members = schema.get("allOf")
        if isinstance(members, list) and len(members) == 1:
            self._rules_of(schema, rules, where, skip={"allOf"})
            return self.node(members[0], hint, rules, where)
        self._rules_of(schema, rules, where)
        return AnyValue()

    def _array(self, schema: dict[str, Any], hint: str, rules: list[str], where: str) -> TypeNode:
        items = schema.get("items", True)
        if isinstance(items, list) or items is False:  # tuple form: a rule, items of any type
            return ArrayOf(AnyValue())
        return ArrayOf(self.node(items, hint + "Item", rules, where + "each item: "))

    def _enum(self, schema: dict[str, Any], hint: str, rules: list[str], where: str) -> TypeNode:
        values = schema["enum"]
        self._rules_of(schema, rules, where, skip={"type"})
        if not all(_is_scalar(v) for v in values):
            rules.append(_rule(where + "enum", values))
            return AnyValue()
        strings = [v for v in values if isinstance(v, str)]
        if strings and len(strings) + values.count(None) == len(values):
            name = self.types.type_name(hint)
            scope = _Scope()
            cases = tuple(EnumCase(v, scope.names(v, "value")) for v in dict.fromkeys(strings))
            self.definitions.append(EnumDef(name, cases, _description(schema)))
            return _union([Ref(name)] + ([Primitive("null")] if None in values else []))
        return _union([Const(v) for v in values])

    def _ref(self, schema: dict[str, Any], hint: str, rules: list[str], where: str) -> TypeNode:
        self._rules_of(schema, rules, where)  # keywords beside $ref (draft 2019-09 and later)
        ref = schema["$ref"]
        pointer = ref[1:] if isinstance(ref, str) and ref.startswith("#") else None
        target = resolve_ref(self._root, ref) if pointer is not None else None
        if pointer is None or target is None:
            rules.append(_rule(where + "$ref", ref))
            return AnyValue()
        if pointer not in self._refs:
            if pointer in self._resolving:  # a non-object that contains itself
                rules.append(_rule(where + "$ref (recursive)", ref))
                return AnyValue()
            self._resolving.add(pointer)
            try:
                self._refs[pointer] = self._target(target, pointer)
            finally:
                self._resolving.discard(pointer)
        node, target_rules = self._refs[pointer]
        rules.extend(where + rule for rule in target_rules)
        return node

    def _target(self, target: Any, pointer: str) -> tuple[TypeNode, tuple[str, ...]]:
        """The type of a $ref's target and its rules (an object's are on its definition)."""
        last = unquote(pointer.rsplit("/", 1)[-1]).replace("~1", "/").replace("~0", "~")
        hint = self._root_hint + _hint(last, "Type")
        if isinstance(target, dict) and _looks_like_object(target) and "$ref" not in target:
            name = self.types.type_name(hint)
            self._refs[pointer] = (Ref(name), ())  # before converting: the object may recur
            return self._object(target, name, hint), ()
        target_rules: list[str] = []
        return self.node(target, hint, target_rules, ""), tuple(target_rules)

    @property
    def _root_hint(self) -> str:
        root = self._refs[""][0]
        assert isinstance(root, Ref)
        return root.name.removesuffix("Properties")

    def _rules_of(
        self, schema: dict[str, Any], rules: list[str], where: str, skip: Iterable[str] = ()
    ) -> None:
        skipped = set(skip)
        for keyword in sorted(schema):
            if keyword in _EXPRESSED or keyword in skipped:
                continue
            if keyword == "additionalProperties" and isinstance(schema[keyword], bool):
                continue
            rules.append(_rule(where + keyword, schema[keyword]))
        items = schema.get("items")
        if isinstance(items, list) or items is False:
            rules.append(_rule(where + "items", items))


def _union(variants: list[TypeNode]) -> TypeNode:
    flat: list[TypeNode] = []
    for v in variants:
        for part in v.variants if isinstance(v, UnionOf) else (v,):
            if part not in flat:
                flat.append(part)
    if any(isinstance(v, AnyValue) for v in flat):
        return AnyValue()
    if Primitive("number") in flat and Primitive("integer") in flat:
        flat.remove(Primitive("integer"))
    if not flat:
        return AnyValue()
    return flat[0] if len(flat) == 1 else UnionOf(tuple(flat))


def _description(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key in ("description", "title"):
        if isinstance(schema.get(key), str) and schema[key].strip():
            return schema[key]
    return None


def build_model(
    plan: dict[str, Any], *, plan_version: int | None, app_name: str | None = None
) -> TrackingModel:
    """The model of a plan document; CodegenError if the plan is malformed."""
    try:
        parsed = parse_plan(plan, saving=False)
    except PlanError as exc:
        raise CodegenError(f"The plan is not valid: {exc}") from None
    builder = _Builder()
    scope = _Scope()
    events = []
    for name in sorted(parsed.events):
        events.append(builder.event(name, scope.names(name, "event"), parsed.events[name]))
    return TrackingModel(
        events=tuple(events),
        definitions=tuple(builder.definitions),
        plan_version=plan_version,
        app_name=app_name,
    )
