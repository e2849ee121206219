"""The Kotlin and Swift generators without a compiler: exact wire names in escaped literals,
safe doc comments, the plan version, determinism; and the Swift check used here.

No Swift compiler can be installed on this machine (Swift is on none of its package
registries), so generated Swift is parsed with the Swift grammar of tree-sitter (PyPI
tree-sitter-swift) and must hold no ERROR or MISSING node: a syntax check, not a type check.
Its calls are those of segmentio/analytics-swift 1.10.0, Sources/Segment/Events.swift:
`track<P: Encodable>(name: String, properties: P?)` and `track(name: String)`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_swift
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codegen import LANGUAGES, CodegenError, build_model, generate
from app.codegen import kotlin as kotlin_generator
from app.codegen import swift as swift_generator
from app.codegen.model import Const

ROOT = Path(__file__).resolve().parents[2]
DEMO_PLAN = json.loads((ROOT / "app" / "validation" / "demo_plan.json").read_text())
EVERY_PLAN = json.loads((ROOT / "tests" / "codegen" / "every_construct_plan.json").read_text())
PLANS = {"demo": DEMO_PLAN, "every construct": EVERY_PLAN}
HOSTILE = [
    'a "quoted" \\ back\\slash',
    "$money ${template} \\(interpolated) \\u0041",
    "ends */ opens /* nests",
    "a *//* b /**/ c",
    "tab\tnew\nline\rreturn \x00 nul \x1f \u2028 \u200b zero-width",
    "ünïcödé 🚀 𝄞",
]
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_swift.language()))
# The Swift reference's keywords (Lexical Structure): none may be a name in generated code.
SWIFT_KEYWORDS = frozenset(
    """associatedtype borrowing class consuming deinit enum extension fileprivate func import
    init inout internal let nonisolated open operator private precedencegroup protocol public
    rethrows static struct subscript typealias var break case catch continue default defer do
    else fallthrough for guard if in repeat return throw switch where while Any as await false
    is nil self Self super throws true try _""".split()
)


def source(plan: dict, language: str, version: int | None = 4) -> str:
    (file,) = generate(plan, language, plan_version=version, app_name="Shop */ app")
    return file.content


def decode_kotlin(literal: str) -> str:
    """A Kotlin string literal's value (the escapes string_literal writes)."""
    assert literal[0] == literal[-1] == '"'
    simple = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", '"': '"', "\\": "\\", "$": "$"}

    def unescape(m: re.Match[str]) -> str:
        return simple[m[1]] if m[1] in simple else chr(int(m[1][1:], 16))

    body = literal[1:-1]
    assert not re.search(r'(?<!\\)(?:\\\\)*(?:"|\$)', body), "unescaped quote or template"
    text = re.sub(r'\\(u[0-9A-F]{4}|[nrtb"\\$])', unescape, body)
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")


def decode_swift(literal: str) -> str:
    """A Swift string literal's value (the escapes string_literal writes)."""
    assert literal[0] == literal[-1] == '"'
    simple = {"n": "\n", "r": "\r", "t": "\t", "0": "\0", '"': '"', "\\": "\\"}

    def unescape(m: re.Match[str]) -> str:
        return simple[m[1]] if m[1] in simple else chr(int(m[1][2:-1], 16))

    body = literal[1:-1]
    assert not re.search(r'(?<!\\)(?:\\\\)*(?:"|\\\()', body), "unescaped quote or \\("
    return re.sub(r'\\(u\{[0-9A-F]+\}|[nrt0"\\])', unescape, body)


@pytest.mark.parametrize("text", HOSTILE)
def test_string_literals_keep_the_exact_text(text: str) -> None:
    kotlin = kotlin_generator.string_literal(text)
    swift = swift_generator.string_literal(text)
    assert decode_kotlin(kotlin) == text
    assert decode_swift(swift) == text
    for literal in (kotlin, swift):
        assert "\n" not in literal and "\r" not in literal and "\u2028" not in literal


def test_a_lone_surrogate_is_refused_for_swift_and_escaped_for_kotlin() -> None:
    assert decode_kotlin(kotlin_generator.string_literal("a\ud800b")) == "a\ud800b"
    with pytest.raises(CodegenError, match="surrogate"):
        swift_generator.string_literal("a\ud800b")
    # A whole plan: the Kotlin file is valid UTF-8 (escapes and comments hold no surrogate).
    schema = {"type": "object", "description": "d\udc00", "properties": {"k\ud800": {}}}
    plan = {"events": {"a\ud800": schema}}
    source(plan, "kotlin").encode("utf-8")
    with pytest.raises(CodegenError, match="surrogate"):
        source(plan, "swift")


@pytest.mark.parametrize("language", ["kotlin", "swift"])
@pytest.mark.parametrize("plan_name", PLANS)
def test_every_event_and_property_name_is_sent_exactly(language: str, plan_name: str) -> None:
    plan = PLANS[plan_name]
    code = source(plan, language)
    literal = (
        kotlin_generator.string_literal if language == "kotlin" else swift_generator.string_literal
    )
    model = build_model(plan, plan_version=4)
    for event in model.events:
        assert literal(event.name) in code, event.name
    for definition in model.definitions:
        for prop in getattr(definition, "properties", ()):
            assert literal(prop.wire_name) in code, prop.wire_name
        for case in getattr(definition, "cases", ()):
            assert literal(case.value) in code, case.value


@pytest.mark.parametrize("language", ["kotlin", "swift"])
def test_output_is_deterministic_and_says_where_it_comes_from(language: str) -> None:
    first = source(EVERY_PLAN, language)
    assert source(json.loads(json.dumps(EVERY_PLAN)), language) == first
    assert first.startswith("// Generated by the Live Validation Dashboard from plan version 4")
    assert f"lvd codegen --language {language}" in first.splitlines()[2]
    draft = source(DEMO_PLAN, language, version=None)
    assert "from a draft plan" in draft.splitlines()[0]
    if language == "kotlin":
        assert "\nconst val PLAN_VERSION: Int = 4\n" in first
        assert "\nval PLAN_VERSION: Int? = null\n" in draft
    else:
        assert "\npublic let trackingPlanVersion: Int? = 4\n" in first
        assert "\npublic let trackingPlanVersion: Int? = nil\n" in draft


def test_rules_the_types_cannot_express_are_documented_as_checked_by_the_service() -> None:
    for language in ("kotlin", "swift"):
        code = source(DEMO_PLAN, language)
        assert 'ISO 4217 code. Checked by the service: pattern "^[A-Z]{3}$".' in code
        assert "Checked by the service: minimum 1." in code


def test_kotlin_doc_comments_cannot_be_closed_or_nested_by_a_description() -> None:
    plan = {"events": {"e": {"type": "object", "description": "a */ b /* c", "properties": {}}}}
    code = source(plan, "kotlin")
    assert " * a * / b / * c" in code
    # Kotlin block comments nest: every /* must be the opening of one KDoc, closed on its own
    # (the header's line comments hold the app name "Shop */ app" as it is).
    body = "\n".join(line for line in code.splitlines() if not line.startswith("//"))
    assert body.count("/*") == body.count("*/") == len(re.findall(r"^\s*/\*\*", body, re.M))


def swift_problems(code: str) -> list[str]:
    """What tree-sitter finds wrong in Swift source: ERROR/MISSING nodes and keywords used as
    names (the grammar accepts those, the compiler would not)."""
    problems = []
    stack = [PARSER.parse(code.encode()).root_node]
    while stack:
        node = stack.pop()
        text = node.text.decode() if node.text else ""
        where = f"line {node.start_point[0] + 1}"
        if node.is_error or node.is_missing:
            problems.append(f"{where}: {'missing' if node.is_missing else 'error'} {text[:40]!r}")
        elif (
            node.type == "simple_identifier"
            and text in SWIFT_KEYWORDS
            and not (
                text == "self"
                and node.parent is not None
                and node.parent.type == "navigation_suffix"
            )
        ):  # CodingKeys.self is the type itself, not a name
            problems.append(f"{where}: keyword {text!r} used as a name")
        stack.extend(node.children)
    return problems


@pytest.mark.parametrize("plan_name", PLANS)
def test_generated_swift_parses_without_an_error_node(plan_name: str) -> None:
    code = source(PLANS[plan_name], "swift")
    assert swift_problems(code) == []
    assert "\nimport Segment\n" in code


def test_swift_keywords_and_its_own_member_names_become_other_names() -> None:
    # rawValue, stringValue, intValue: members of the String enums and CodingKeys generated.
    renamed = SWIFT_KEYWORDS | {"rawValue", "stringValue", "intValue", "Type"}
    names = sorted(renamed | {"encode"})  # encode may stay: encode(to:) is another name
    props = {name: {"type": "string"} for name in names}
    enum = {"type": "string", "enum": names}
    plan = {
        "events": {
            name: {"type": "object", "properties": {**props, "e": enum}, "required": ["self"]}
            for name in ("nil", "init", "self", "analytics", "track")
        }
    }
    code = source(plan, "swift")
    assert swift_problems(code) == []
    for name in renamed:
        assert f"case {name} = " not in code and f"var {name}:" not in code


@pytest.mark.parametrize(
    ("break_it", "found"),
    [
        (lambda code: code.replace('name: "purchase"', 'name: "pur"chase"'), "error"),
        (lambda code: code.replace('name: "purchase"', 'name: "\\(purchase"'), "error"),
        (lambda code: code.rstrip().removesuffix("}"), "missing"),
        (lambda code: code.replace("var screenName:", "var class:"), "keyword 'class'"),
        (lambda code: code.replace("func screenView(", "func 1screenView("), "error"),
    ],
    ids=["unescaped quote", "open interpolation", "missing brace", "keyword", "digit"],
)
def test_the_swift_check_catches_broken_code(break_it, found: str) -> None:
    code = source(DEMO_PLAN, "swift")
    broken = break_it(code)
    assert broken != code
    assert any(found in problem for problem in swift_problems(broken)), swift_problems(broken)


@pytest.mark.parametrize("plan_name", PLANS)
def test_generated_swift_calls_analytics_swift_track_as_declared(plan_name: str) -> None:
    code = source(PLANS[plan_name], "swift")
    calls = re.findall(r"^\s*self\.analytics\.(\w+)\((\w+):", code, re.M)
    assert len(calls) == len(build_model(PLANS[plan_name], plan_version=4).events)
    assert set(calls) == {("track", "name")}
    # The Encodable overload with the event's properties struct, or track(name:) alone.
    model = build_model(PLANS[plan_name], plan_version=4)
    for event in model.events:
        obj = model.object(event.properties)
        call = f"self.analytics.track(name: {swift_generator.string_literal(event.name)}"
        if obj.properties:
            assert f"{call}, properties: {obj.name}(" in code
        else:  # a [String: JSON] of the caller's when any property may come, else none
            assert (
                f"{call}, properties: properties)" in code
                if obj.additional
                else f"{call})\n" in code
            )
    assert "[String: Any]" not in code


@pytest.mark.parametrize("plan_name", PLANS)
def test_swift_structs_send_required_keys_always_and_optional_ones_when_set(plan_name: str) -> None:
    code = source(PLANS[plan_name], "swift")
    model = build_model(PLANS[plan_name], plan_version=4)
    for definition in model.definitions:
        for prop in getattr(definition, "properties", ()):
            name = prop.names.camel
            wire = swift_generator.string_literal(prop.wire_name)
            assert f"case {name} = {wire}\n" in code
            if not prop.required and isinstance(prop.type, Const):  # sent when the flag is true
                assert re.search(
                    rf"if self\.{name} {{ try container\.encode(Nil)?\(.*forKey: \.{name}\) }}",
                    code,
                )
            elif not prop.required:
                assert f"try container.encodeIfPresent(self.{name}, forKey: .{name})" in code
            elif f"self.{name}, forKey" in code:  # required: sent even when nil (as null)
                assert f"try container.encode(self.{name}, forKey: .{name})" in code
            else:  # a fixed value, sent without a parameter
                assert re.search(rf"try container\.encode(Nil)?\(.*forKey: \.{name}\)", code)


def test_swift_objects_that_hold_themselves_are_classes() -> None:
    # Swift stores a struct's properties inline, optionals too: a struct holding itself (or a
    # struct holding one that holds it) does not compile; through an array it does.
    schema = {
        "type": "object",
        "definitions": {
            "a": {"type": "object", "properties": {"b": {"$ref": "#/definitions/b"}}},
            "b": {"type": "object", "properties": {"a": {"$ref": "#/definitions/a"}}},
            "tree": {
                "type": "object",
                "properties": {"kids": {"type": "array", "items": {"$ref": "#/definitions/tree"}}},
            },
        },
        "properties": {
            "again": {"$ref": "#"},
            "a": {"$ref": "#/definitions/a"},
            "tree": {"$ref": "#/definitions/tree"},
        },
    }
    code = source({"events": {"e": schema}}, "swift")
    model = build_model({"events": {"e": schema}}, plan_version=4)
    declared = re.findall(r"^public (struct|final class) (\w+): Encodable", code, re.M)
    kinds = {name: kind for kind, name in declared}
    objects = {d.name for d in model.definitions if getattr(d, "properties", ())}
    assert set(kinds) == objects
    assert kinds.pop("ETree") == "struct"
    assert set(kinds.values()) == {"final class"}, kinds
    assert swift_problems(code) == []


# Shapes of a definition that refers to the next one of a cycle (the "$ref" placeholder).
CYCLE_SHAPES = {
    "map": {"type": "object", "additionalProperties": "$ref"},
    "map of maps": {
        "type": "object",
        "additionalProperties": {"type": "object", "additionalProperties": "$ref"},
    },
    "map of arrays": {
        "type": "object",
        "additionalProperties": {"type": "array", "items": "$ref"},
    },
    "array": {"type": "array", "items": "$ref"},
    "object": {"type": "object", "properties": {"next": "$ref"}, "required": ["next"]},
    "optional object": {"type": "object", "properties": {"next": "$ref"}},
    "union": {"anyOf": ["$ref", {"type": "string"}]},
    "nullable": {"anyOf": ["$ref", {"type": "null"}]},
    "allOf": {"allOf": ["$ref"]},
    "bare ref": "$ref",
}


def cycle_schema(shapes: list[str]) -> dict:
    """An event schema whose definitions d0..dN refer to each other in a cycle, by shapes."""

    def fill(node: object, target: str) -> object:
        if node == "$ref":
            return {"$ref": f"#/definitions/{target}"}
        if isinstance(node, dict):
            return {k: fill(v, target) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v, target) for v in node]
        return node

    definitions = {
        f"d{i}": fill(CYCLE_SHAPES[shape], f"d{(i + 1) % len(shapes)}")
        for i, shape in enumerate(shapes)
    }
    return {
        "definitions": definitions,
        "type": "object",
        "properties": {"p": {"$ref": "#/definitions/d0"}},
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(sorted(CYCLE_SHAPES)), min_size=1, max_size=3))
def test_definitions_referring_to_each_other_in_a_cycle_generate_in_every_language(
    shapes: list[str],
) -> None:
    # Maps whose values are each other once made Kotlin and Swift write Map<String, Map<...
    # without end (a RecursionError, a 500 of the code API): such a map is a JSON object type.
    plan = {"events": {"e": cycle_schema(shapes)}}
    for language in LANGUAGES:
        (file,) = generate(plan, language, plan_version=4)
        assert re.search(r"[\"']e[\"']", file.content), language  # the event's wire name
    assert swift_problems(source(plan, "swift")) == []


def test_maps_of_each_other_fall_back_to_a_json_object() -> None:
    plan = {"events": {"e": cycle_schema(["map", "map"])}}
    assert re.search(r"fun e\(\s*p: JsonObject\? = null,", source(plan, "kotlin"))
    assert "public func e(p: [String: JSON]? = nil)" in source(plan, "swift")
    # A map of maps of itself: the outer map's values, spelled out once, then JSON objects.
    plan = {"events": {"e": cycle_schema(["map of maps"])}}
    assert re.search(r"fun e\(\s*p: JsonObject\? = null,", source(plan, "kotlin"))
    # A map that reaches itself only through an object with properties keeps its value type.
    plan = {"events": {"e": cycle_schema(["map", "optional object"])}}
    assert re.search(r"fun e\(\s*p: Map<String, ED1>\? = null,", source(plan, "kotlin"))
    assert "public func e(p: [String: ED1]? = nil)" in source(plan, "swift")


BIG = 123456789012345678901234567890
CONST_PLAN = {
    "events": {
        "consts": {
            "type": "object",
            "properties": {
                "big": {"const": BIG},
                "small": {"const": -(2**63)},
                "maybe": {"const": "v"},
                "nothing": {"const": None},
            },
            "required": ["big", "small"],
        }
    }
}


def test_an_optional_const_is_a_flag_and_a_big_integer_stays_exact() -> None:
    # An optional const once took a String? in Kotlin that was ignored (the const was sent
    # anyway) and any String in Swift (sent as given): now a Boolean, true sends the value.
    kotlin = source(CONST_PLAN, "kotlin")
    assert re.search(r"fun consts\(\s*maybe: Boolean = false,\s*nothing: Boolean = false,", kotlin)
    assert 'if (obj_.maybe) json_["maybe"] = JsonPrimitive("v")' in kotlin
    assert 'if (obj_.nothing) json_["nothing"] = JsonNull' in kotlin
    # Beyond Long: a BigInteger, whose digits JsonPrimitive(Number) writes exactly.
    assert f'json_["big"] = JsonPrimitive(java.math.BigInteger("{BIG}"))' in kotlin
    assert 'json_["small"] = JsonPrimitive(Long.MIN_VALUE)' in kotlin
    swift = source(CONST_PLAN, "swift")
    assert "public func consts(maybe: Bool = false, nothing: Bool = false)" in swift
    assert 'if self.maybe { try container.encode("v", forKey: .maybe) }' in swift
    assert "if self.nothing { try container.encodeNil(forKey: .nothing) }" in swift
    assert f'try container.encode(Decimal(string: "{BIG}")!, forKey: .big)' in swift
    assert "try container.encode(-9223372036854775808, forKey: .small)" in swift
    assert "\nimport Foundation\n" in swift
    assert swift_problems(swift) == []


def test_comment_marks_in_swift_strings_are_escaped_for_the_syntax_check() -> None:
    # tree-sitter-swift 0.7.4 took "/*" in a string after "*//*" in another for a comment and
    # reported an error in valid code; "/" next to "*" is written as \u{2F} (the same text).
    plan = {
        "events": {
            "*//*": {
                "type": "object",
                "properties": {"/*": {"type": "string"}, "a */ b": {"enum": ["/* x", "y"]}},
            }
        }
    }
    code = source(plan, "swift")
    assert swift_problems(code) == []
    assert 'track(name: "*\\u{2F}\\u{2F}*",' in code
    assert 'case property = "\\u{2F}*"' in code
    assert decode_swift(swift_generator.string_literal("*//*")) == "*//*"
