"""Kotlin: one file, trackingplan/TrackingPlan.kt, wrapping analytics-kotlin (docs/codegen.md).

The calls are those of segmentio/analytics-kotlin 1.25.0,
core/src/main/java/com/segment/analytics/kotlin/core/Analytics.kt:
`fun track(name: String, properties: JsonObject = emptyJsonObject, ...)`, with the JSON elements
of kotlinx-serialization-json 1.5.1 (JsonObject, JsonArray, JsonPrimitive, JsonNull), the
version that release depends on. Per event a method of `TrackingPlan`; required properties are
parameters, optional ones nullable parameters defaulting to null (null leaves the key out);
string enums are enum classes holding their exact wire values, nested objects data classes,
integers Long, numbers Double. What Kotlin's types cannot say is listed in the KDoc as
"checked by the service". Names that generated code itself uses end in "_" (model names only
do for reserved words, none of which is used here), so no property or event can shadow them.
"""

from __future__ import annotations

from .model import (
    ArrayOf,
    CodeFile,
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

PATH = "trackingplan/TrackingPlan.kt"
PACKAGE = "trackingplan"
_PRIMITIVES = {"string": "String", "integer": "Long", "number": "Double", "boolean": "Boolean"}
_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "$": "\\$",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
}


def render(model: TrackingModel) -> list[CodeFile]:
    """The Kotlin source of the model."""
    return [CodeFile(PATH, _Writer(model).file())]


def string_literal(text: str) -> str:
    """text as a Kotlin string literal ("$" escaped too: it starts a template)."""
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:  # controls, format characters, separators, lone surrogates: UTF-16 escapes
            data = ch.encode("utf-16-be", "surrogatepass")
            out.extend(f"\\u{data[i : i + 2].hex().upper()}" for i in range(0, len(data), 2))
    return '"' + "".join(out) + '"'


def _comment_text(line: str) -> str:
    # Kotlin block comments nest: both "/*" and "*/" would unbalance a KDoc.
    return line.replace("*/", "* /").replace("/*", "/ *")


def kdoc(lines: list[str], indent: str = "") -> list[str]:
    """Lines as a KDoc block (empty when there is nothing to say)."""
    while lines and not lines[0]:
        lines = lines[1:]
    if not lines:
        return []
    body = [f"{indent} *{' ' + _comment_text(line) if line else ''}" for line in lines]
    return [f"{indent}/**", *body, f"{indent} */"]


_LONG = range(-(2**63), 2**63)


def _literal(value: Scalar) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if value == _LONG.start:  # kotlinc reads -9223372036854775808L as -(out of range)
            return "Long.MIN_VALUE"
        # JsonPrimitive(Number) writes a BigInteger's exact digits, unquoted.
        return f"{value}L" if value in _LONG else f'java.math.BigInteger("{value}")'
    if isinstance(value, float):
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    return string_literal(value)


class _Writer(ParameterWriter):
    # ---- types

    def type_of(self, node: TypeNode) -> str:
        """The Kotlin type of node (with "?" when it may be null)."""
        rest, nullable = without_null(node)
        base = "JsonNull" if rest is None else self._base(rest)
        return base + "?" if nullable and rest is not None else base

    def _base(self, node: TypeNode) -> str:
        if isinstance(node, Primitive | Const):
            return _PRIMITIVES.get(node.kind, "JsonNull")
        if isinstance(node, ArrayOf):
            return f"List<{self.type_of(node.items)}>"
        if isinstance(node, Ref):
            values = self._map_values(node.name)
            if values is not None:
                return f"Map<String, {self.type_of(values)}>"
            return "JsonObject" if self._is_empty_object(node.name) else node.name
        if isinstance(node, UnionOf) and same_kind_consts(node):
            return self._base(node.variants[0])
        return "JsonElement"  # AnyValue, or a union Kotlin has no type for

    def encode(self, node: TypeNode, expr: str, depth: int = 0) -> str:
        rest, nullable = without_null(node)
        if rest is None:
            return "JsonNull"
        if nullable:
            inner = self._encode(rest, "it", depth)
            return f"({expr}?.let {{ {inner} }} ?: JsonNull)"
        return self._encode(rest, expr, depth)

    def _encode(self, node: TypeNode, expr: str, depth: int) -> str:
        if isinstance(node, Const):
            return "JsonNull" if node.value is None else f"JsonPrimitive({_literal(node.value)})"
        if isinstance(node, Primitive) or (isinstance(node, UnionOf) and same_kind_consts(node)):
            return f"JsonPrimitive({expr})"
        if isinstance(node, ArrayOf):
            item = f"item{depth}_"
            return (
                f"JsonArray({expr}.map {{ {item} -> {self.encode(node.items, item, depth + 1)} }})"
            )
        if isinstance(node, Ref):
            found = self.model.definition(node.name)
            if isinstance(found, EnumDef):
                return f"JsonPrimitive({expr}.wireValue)"
            values = self._map_values(node.name)
            if values is not None:
                entry = f"entry{depth}_"
                inner = self.encode(values, f"{entry}.value", depth + 1)
                return f"JsonObject({expr}.mapValues {{ {entry} -> {inner} }})"
            return expr if self._is_empty_object(node.name) else f"encode_({expr})"
        return expr  # a JsonElement already

    # ---- declarations

    def property_doc(self, prop: Property) -> str:
        parts = [" ".join(doc_lines(prop.description))]
        if self._flag(prop):
            parts.append("Optional: true sends it, false leaves it out.")
        elif not prop.required:
            parts.append("Optional: null leaves it out.")
        parts.append(self.describe(prop.type) or "")
        parts.append(service_rules(prop.rules) or "")
        return " ".join(p for p in parts if p)

    def signature(self, params: list[Property], indent: str) -> list[str]:
        lines = []
        for p in params:
            kind = self.type_of(p.type)
            if self._flag(p):
                lines.append(f"{indent}{p.names.camel}: Boolean = false,")
            elif p.required:
                lines.append(f"{indent}{p.names.camel}: {kind},")
            else:
                optional = kind if kind.endswith("?") else kind + "?"
                lines.append(f"{indent}{p.names.camel}: {optional} = null,")
        return lines

    def enum(self, enum: EnumDef) -> list[str]:
        lines = kdoc(doc_lines(enum.description))
        lines.append(f"enum class {enum.name}(val wireValue: String) {{")
        for case in enum.cases:
            lines.append(f"    {case.names.constant}({string_literal(case.value)}),")
        return [*lines, "}"]

    def data_class(self, obj: ObjectDef) -> list[str]:
        params = self._params(obj)
        doc = doc_lines(obj.description)
        rules = service_rules(obj.rules)
        if rules:
            doc += ["", rules]
        if not obj.additional:
            doc += ["", "Keys that are not declared here are refused by the plan."]
        doc += [""] + [f"@property {p.names.camel} {self.property_doc(p)}".rstrip() for p in params]
        lines = kdoc(doc)
        if not params:  # every property has its one value: nothing to pass
            return [*lines, f"object {obj.name}"]
        return [*lines, f"data class {obj.name}(", *self.signature(params, "    val "), ")"]

    def encoder(self, obj: ObjectDef) -> list[str]:
        lines = [
            f"private fun encode_(obj_: {obj.name}): JsonObject {{",
            "    val json_ = LinkedHashMap<String, JsonElement>()",
        ]
        for p in obj.properties:
            key = string_literal(p.wire_name)
            if self._fixed(p):
                lines.append(f"    json_[{key}] = {self.encode(p.type, '')}")
            elif self._flag(p):
                lines.append(
                    f"    if (obj_.{p.names.camel}) json_[{key}] = {self.encode(p.type, '')}"
                )
            elif p.required:
                value = self.encode(p.type, f"obj_.{p.names.camel}")
                lines.append(f"    json_[{key}] = {value}")
            else:
                rest, _ = without_null(p.type)
                value = "it" if rest is None else self.encode(rest, "it")
                lines.append(f"    obj_.{p.names.camel}?.let {{ json_[{key}] = {value} }}")
        return [*lines, "    return JsonObject(json_)", "}"]

    def method(self, event: Event) -> list[str]:
        obj = self.model.object(event.properties)
        params = self._params(obj)
        doc = doc_lines(event.description)
        doc += ["", f"Sends the event {shown(event.name)}."]
        rules = service_rules(obj.rules)
        if rules:
            doc += [rules]
        doc += [f"@param {p.names.camel} {self.property_doc(p)}".rstrip() for p in params]
        lines = kdoc(doc, "    ")
        name = string_literal(event.name)
        values = self._map_values(obj.name)
        if values is not None:  # any key, each value of one type
            kind = f"Map<String, {self.type_of(values)}>"
            lines.append(f"    fun {event.names.camel}(properties: {kind} = emptyMap()) {{")
            encoded = self.encode(Ref(obj.name), "properties")
            lines.append(f"        this.analytics.track({name}, {encoded})")
        elif not obj.properties and obj.additional:  # the plan names no property: any may come
            lines.append(
                f"    fun {event.names.camel}(properties: JsonObject = JsonObject(emptyMap())) {{"
            )
            lines.append(f"        this.analytics.track({name}, properties)")
        elif not params:
            value = "JsonObject(emptyMap())" if not obj.properties else f"encode_({obj.name})"
            lines.append(f"    fun {event.names.camel}() {{")
            lines.append(f"        this.analytics.track({name}, {value})")
        else:
            lines.append(f"    fun {event.names.camel}(")
            lines += self.signature(params, "        ")
            lines.append("    ) {")
            lines.append(f"        val properties_ = {obj.name}(")
            lines += [f"            {p.names.camel} = {p.names.camel}," for p in params]
            lines.append("        )")
            lines.append(f"        this.analytics.track({name}, encode_(properties_))")
        return [*lines, "    }"]

    def file(self) -> str:
        model = self.model
        header = [f"// {line}" for line in model.header_lines("kotlin")]
        version = (
            f"const val PLAN_VERSION: Int = {model.plan_version}"
            if model.plan_version is not None
            else "val PLAN_VERSION: Int? = null"
        )
        out = [
            *header,
            "",
            f"package {PACKAGE}",
            "",
            "import com.segment.analytics.kotlin.core.Analytics",
            "import kotlinx.serialization.json.JsonArray",
            "import kotlinx.serialization.json.JsonElement",
            "import kotlinx.serialization.json.JsonNull",
            "import kotlinx.serialization.json.JsonObject",
            "import kotlinx.serialization.json.JsonPrimitive",
            "",
            "/** The plan version this file was generated from (null: a draft plan). */",
            version,
        ]
        objects = [d for d in model.definitions if isinstance(d, ObjectDef) and d.properties]
        for definition in model.definitions:
            if isinstance(definition, EnumDef):
                out += ["", *self.enum(definition)]
            elif definition in objects:
                out += ["", *self.data_class(definition)]
        for definition in objects:
            out += ["", *self.encoder(definition)]
        out += [
            "",
            "/** Per event of the tracking plan a method sending it with analytics-kotlin. */",
            "class TrackingPlan(private val analytics: Analytics) {",
        ]
        for i, event in enumerate(model.events):
            if i:
                out.append("")
            out += self.method(event)
        out.append("}")
        return "\n".join(out) + "\n"
