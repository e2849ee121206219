"""Swift: one file, TrackingPlan.swift, wrapping analytics-swift (docs/codegen.md).

The calls are those of segmentio/analytics-swift 1.10.0, Sources/Segment/Events.swift:
`public func track<P: Encodable>(name: String, properties: P?)` and `public func track(name:
String)`, on `Analytics` of the module `Segment`; values the plan leaves open are that module's
`JSON` enum (Sources/Segment/Utilities/JSON.swift, Codable). Per event a method of the struct
`TrackingPlan`; its properties are an Encodable struct whose `encode(to:)` writes the exact wire
names (CodingKeys with string raw values): required properties always (null included, for a
required nullable one), optional ones only when not nil. String enums are `String` enums whose
raw values are the wire values, nested objects structs, integers Int, numbers Double. What
Swift's types cannot say is listed in the `///` comments as "checked by the service".
"""

from __future__ import annotations

from .model import (
    ArrayOf,
    CodeFile,
    CodegenError,
    Const,
    EnumDef,
    Event,
    ObjectDef,
    Primitive,
    Property,
    Ref,
    Scalar,
    TrackingModel,
    TypeNode,
    UnionOf,
    doc_lines,
    service_rules,
    without_null,
)
from .typed_parameters import ParameterWriter, same_kind_consts, shown

PATH = "TrackingPlan.swift"
_PRIMITIVES = {"string": "String", "integer": "Int", "number": "Double", "boolean": "Bool"}
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def render(model: TrackingModel) -> list[CodeFile]:
    """The Swift source of the model."""
    return [CodeFile(PATH, _Writer(model).file())]


def string_literal(text: str) -> str:
    """text as a Swift string literal (a backslash is escaped, so "\\(" never interpolates)."""
    out = []
    for i, ch in enumerate(text):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch == "/" and "*" in text[max(i - 1, 0) : i] + text[i + 1 : i + 2]:
            # "/*" and "*/" are plain text in a string, but tree-sitter-swift 0.7.4 can take
            # them for a comment (a false syntax error): the "/" is written as an escape.
            out.append("\\u{2F}")
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise CodegenError(f"{text!r} holds a lone surrogate, which no Swift string can")
        else:
            out.append(f"\\u{{{ord(ch):X}}}")
    return '"' + "".join(out) + '"'


_INT = range(-(2**63), 2**63)


def _literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Beyond Int, Foundation's Decimal (exact up to 38 digits) encodes as a JSON number.
        return str(value) if value in _INT else f'Decimal(string: "{value}")!'
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    return string_literal(str(value))


def _recursive_objects(model: TrackingModel) -> set[str]:
    """Objects that hold themselves other than through an array: Swift stores a struct's
    properties inline (optionals too), so those must be classes."""
    held: dict[str, set[str]] = {}
    for definition in model.definitions:
        if isinstance(definition, ObjectDef):
            held[definition.name] = {
                ref for p in definition.properties for ref in _direct_refs(p.type)
            }
    found = set()
    for start in held:
        seen, todo = set(), list(held[start])
        while todo:
            name = todo.pop()
            if name == start:
                found.add(start)
                break
            if name not in seen and name in held:
                seen.add(name)
                todo.extend(held[name])
    return found


def _direct_refs(node: TypeNode) -> list[str]:
    if isinstance(node, Ref):
        return [node.name]
    if isinstance(node, UnionOf):
        return [ref for v in node.variants for ref in _direct_refs(v)]
    return []  # an array holds its items on the heap


def _doc(lines: list[str], indent: str) -> list[str]:
    while lines and not lines[0]:
        lines = lines[1:]
    return [f"{indent}///{' ' + line if line else ''}" for line in lines]


class _Writer(ParameterWriter):
    def __init__(self, model: TrackingModel) -> None:
        super().__init__(model)
        self.recursive = _recursive_objects(model)

    # ---- types

    def type_of(self, node: TypeNode) -> str:
        rest, nullable = without_null(node)
        base = "JSON" if rest is None else self._base(rest)
        return base + "?" if nullable and rest is not None else base

    def _base(self, node: TypeNode) -> str:
        if isinstance(node, Primitive | Const):
            return _PRIMITIVES.get(node.kind, "JSON")
        if isinstance(node, ArrayOf):
            return f"[{self.type_of(node.items)}]"
        if isinstance(node, Ref):
            values = self._map_values(node.name)
            if values is not None:
                return f"[String: {self.type_of(values)}]"
            return "[String: JSON]" if self._is_empty_object(node.name) else node.name
        if isinstance(node, UnionOf) and same_kind_consts(node):
            return self._base(node.variants[0])
        return "JSON"  # AnyValue, or a union Swift has no type for

    def property_doc(self, prop: Property) -> str:
        parts = [" ".join(doc_lines(prop.description))]
        if self._flag(prop):
            parts.append("Optional: true sends it, false leaves it out.")
        elif not prop.required:
            parts.append("Optional: nil leaves it out.")
        parts.append(self.describe(prop.type) or "")
        parts.append(service_rules(prop.rules) or "")
        return " ".join(p for p in parts if p)

    def signature(self, params: list[Property]) -> str:
        out = []
        for p in params:
            kind = self.type_of(p.type)
            if self._flag(p):
                out.append(f"{p.names.camel}: Bool = false")
            elif p.required:
                out.append(f"{p.names.camel}: {kind}")
            else:
                optional = kind if kind.endswith("?") else kind + "?"
                out.append(f"{p.names.camel}: {optional} = nil")
        return ", ".join(out)

    # ---- declarations

    def enum(self, enum: EnumDef) -> list[str]:
        lines = _doc(doc_lines(enum.description), "")
        lines.append(f"public enum {enum.name}: String, Encodable {{")
        for case in enum.cases:
            lines.append(f"    case {case.names.camel} = {string_literal(case.value)}")
        return [*lines, "}"]

    def struct(self, obj: ObjectDef) -> list[str]:
        params = self._params(obj)
        doc = doc_lines(obj.description)
        rules = service_rules(obj.rules)
        if rules:
            doc += ["", rules]
        if not obj.additional:
            doc += ["", "Keys that are not declared here are refused by the plan."]
        if obj.name in self.recursive:
            doc += [
                "",
                "A class, not a struct: it holds itself (a struct cannot, even optionally).",
            ]
        lines = _doc(doc, "")
        kind = "final class" if obj.name in self.recursive else "struct"
        lines.append(f"public {kind} {obj.name}: Encodable {{")
        for p in params:
            lines += _doc([self.property_doc(p)] if self.property_doc(p) else [], "    ")
            kind = "Bool" if self._flag(p) else self.type_of(p.type)
            if not p.required and not self._flag(p) and not kind.endswith("?"):
                kind += "?"
            lines.append(f"    public var {p.names.camel}: {kind}")
        lines += ["", f"    public init({self.signature(params)}) {{"]
        lines += [f"        self.{p.names.camel} = {p.names.camel}" for p in params]
        lines += ["    }", "", "    private enum CodingKeys: String, CodingKey {"]
        lines += [
            f"        case {p.names.camel} = {string_literal(p.wire_name)}" for p in obj.properties
        ]
        lines += [
            "    }",
            "",
            "    public func encode(to encoder: Encoder) throws {",
            "        var container = encoder.container(keyedBy: CodingKeys.self)",
        ]
        for p in obj.properties:
            key = f".{p.names.camel}"
            if self._fixed(p) or self._flag(p):
                rest, _ = without_null(p.type)
                if isinstance(rest, Const) and rest.value is not None:
                    value = _literal(rest.value)
                    encode = f"try container.encode({value}, forKey: {key})"
                else:
                    encode = f"try container.encodeNil(forKey: {key})"
                if self._flag(p):
                    encode = f"if self.{p.names.camel} {{ {encode} }}"
                lines.append(f"        {encode}")
            elif p.required:
                lines.append(f"        try container.encode(self.{p.names.camel}, forKey: {key})")
            else:
                lines.append(
                    f"        try container.encodeIfPresent(self.{p.names.camel}, forKey: {key})"
                )
        return [*lines, "    }", "}"]

    def method(self, event: Event) -> list[str]:
        obj = self.model.object(event.properties)
        params = self._params(obj)
        doc = doc_lines(event.description)
        doc += ["", f"Sends the event {shown(event.name)}."]
        rules = service_rules(obj.rules)
        if rules:
            doc.append(rules)
        if params:
            doc.append("- Parameters:")
            doc += [f"  - {p.names.camel}: {self.property_doc(p)}".rstrip() for p in params]
        lines = _doc(doc, "    ")
        name = string_literal(event.name)
        if not obj.properties and obj.additional:  # the plan names no property: any may come
            lines.append(
                f"    public func {event.names.camel}(properties: [String: JSON] = [:]) {{"
            )
            lines.append(f"        self.analytics.track(name: {name}, properties: properties)")
            return [*lines, "    }"]
        lines.append(f"    public func {event.names.camel}({self.signature(params)}) {{")
        if not obj.properties:
            lines.append(f"        self.analytics.track(name: {name})")
        else:
            args = ", ".join(f"{p.names.camel}: {p.names.camel}" for p in params)
            lines.append(
                f"        self.analytics.track(name: {name}, properties: {obj.name}({args}))"
            )
        return [*lines, "    }"]

    def file(self) -> str:
        model = self.model
        version = "nil" if model.plan_version is None else str(model.plan_version)
        out = [
            *(f"// {line}" for line in model.header_lines("swift")),
            "",
            "import Foundation",
            "import Segment",
            "",
            "/// The plan version this file was generated from (nil: a draft plan).",
            f"public let trackingPlanVersion: Int? = {version}",
        ]
        for definition in model.definitions:
            if isinstance(definition, EnumDef):
                out += ["", *self.enum(definition)]
            elif definition.properties:
                out += ["", *self.struct(definition)]
        out += [
            "",
            "/// Per event of the tracking plan a method sending it with analytics-swift.",
            "public struct TrackingPlan {",
            "    public let analytics: Analytics",
            "",
            "    public init(analytics: Analytics) {",
            "        self.analytics = analytics",
            "    }",
        ]
        for event in model.events:
            out += ["", *self.method(event)]
        out.append("}")
        return "\n".join(out) + "\n"
