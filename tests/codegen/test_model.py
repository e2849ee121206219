"""The language-neutral model: identifiers from any name, types and rules from JSON Schema."""

from __future__ import annotations

import json
import re

import pytest

import app.codegen as codegen
from app.codegen import LANGUAGES, CodeFile, CodegenError, build_model, generate
from app.codegen.model import (
    MAX_IDENTIFIER,
    RESERVED,
    AnyValue,
    ArrayOf,
    Const,
    EnumDef,
    ObjectDef,
    Primitive,
    Ref,
    UnionOf,
    _Scope,
    base_names,
    doc_lines,
    without_null,
)
from tests.codegen.helpers import load_plan

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
STRING, INTEGER, NUMBER, NULL = (Primitive(k) for k in ("string", "integer", "number", "null"))


@pytest.mark.parametrize(
    ("text", "camel", "pascal", "snake", "constant"),
    [
        (
            "Order Completed",
            "orderCompleted",
            "OrderCompleted",
            "order_completed",
            "ORDER_COMPLETED",
        ),
        ("userID", "userId", "UserId", "user_id", "USER_ID"),
        (
            "HTTPServer error",
            "httpServerError",
            "HttpServerError",
            "http_server_error",
            "HTTP_SERVER_ERROR",
        ),
        ("1st purchase", "_1stPurchase", "_1stPurchase", "_1st_purchase", "_1ST_PURCHASE"),
        ("class", "class_", "Class", "class_", "CLASS"),
        ("String", "string_", "String_", "string_", "STRING"),
        ("constructor", "constructor_", "Constructor", "constructor_", "CONSTRUCTOR"),
        ("__proto__", "proto", "Proto", "proto", "PROTO"),
        ("Café ünïcode", "cafeUnicode", "CafeUnicode", "cafe_unicode", "CAFE_UNICODE"),
        ("*/ \"q\" \\ '''", "q", "Q", "q", "Q"),
        ("\U0001f600", "event", "Event", "event", "EVENT"),
        ("", "event", "Event", "event", "EVENT"),
        ("checkout/step-2", "checkoutStep2", "CheckoutStep2", "checkout_step_2", "CHECKOUT_STEP_2"),
    ],
)
def test_names_in_each_convention(text, camel, pascal, snake, constant):
    names = base_names(text, "event")
    assert (names.camel, names.pascal, names.snake, names.constant) == (
        camel,
        pascal,
        snake,
        constant,
    )


def _plan(events: dict) -> dict:
    return {"events": events}


def _one_property(schema: dict, required: bool = False):
    """The model and the one property of an event whose property "p" has schema."""
    event = {"type": "object", "properties": {"p": schema}, "required": ["p"] if required else []}
    model = build_model(_plan({"e": event}), plan_version=1)
    (prop,) = model.object(model.events[0].properties).properties
    return model, prop


def test_colliding_event_names_get_unique_identifiers_and_keep_their_wire_names():
    names = [
        "Order Completed",
        "order completed",
        "order_completed",
        "ORDER-COMPLETED",
        "orderCompleted",
    ]
    model = build_model(_plan({n: {} for n in names}), plan_version=1)
    assert [e.name for e in model.events] == sorted(names)
    for convention in ("camel", "pascal", "snake", "constant"):
        found = [getattr(e.names, convention) for e in model.events]
        assert len(set(found)) == len(names), (convention, found)
    assert [e.names.camel for e in model.events] == [
        "orderCompleted",
        "orderCompleted2",
        "orderCompleted3",
        "orderCompleted4",
        "orderCompleted5",
    ]
    assert len({e.properties for e in model.events}) == len(names)


def test_every_identifier_of_the_every_construct_plan_is_valid_unique_and_unreserved():
    plan = load_plan("every_construct_plan.json")
    model = build_model(plan, plan_version=1)
    assert [e.name for e in model.events] == sorted(plan["events"])

    def check(names_list, where):
        for convention in ("camel", "pascal", "snake", "constant"):
            found = [getattr(n, convention) for n in names_list]
            assert len(set(found)) == len(found), (where, convention, found)
            for name in found:
                assert IDENTIFIER.match(name) and name not in RESERVED, (where, name)

    check([e.names for e in model.events], "events")
    type_names = [d.name for d in model.definitions]
    assert len(set(type_names)) == len(type_names)
    assert all(IDENTIFIER.match(n) and n not in RESERVED for n in type_names)
    for definition in model.definitions:
        if isinstance(definition, ObjectDef):
            check([p.names for p in definition.properties], definition.name)
        else:
            check([c.names for c in definition.cases], definition.name)
    hostile = model.object(
        model.events[[e.name for e in model.events].index("Hostile property names")].properties
    )
    assert {p.wire_name for p in hostile.properties} == set(
        plan["events"]["Hostile property names"]["properties"]
    )


def test_names_the_generators_declare_are_never_given_to_plan_types():
    model = build_model(
        _plan(
            {
                "Node": {"properties": {"identity": {"type": "object"}}},
                "Segment": {"properties": {"client": {"type": "object"}}},
            }
        ),
        plan_version=1,
    )
    names = {d.name for d in model.definitions}
    assert {"NodeIdentity2", "SegmentClient2"} <= names
    assert not {"NodeIdentity", "SegmentClient"} & names


@pytest.mark.parametrize(
    ("schema", "expected", "rules"),
    [
        ({"type": "string"}, STRING, ()),
        ({"type": "integer"}, INTEGER, ()),
        ({"type": "number"}, NUMBER, ()),
        ({"type": "boolean"}, Primitive("boolean"), ()),
        ({"type": "null"}, NULL, ()),
        ({"type": ["string", "null"]}, UnionOf((STRING, NULL)), ()),
        ({"type": ["integer", "number"]}, NUMBER, ()),
        ({"const": 2}, Const(2), ()),
        ({"const": 'a"b'}, Const('a"b'), ()),
        ({"const": {"a": 1}}, AnyValue(), ('const {"a": 1}',)),
        ({"enum": [1, 2]}, UnionOf((Const(1), Const(2))), ()),
        ({"enum": [1, True, None]}, UnionOf((Const(1), Const(True), Const(None))), ()),
        ({"enum": [[1]]}, AnyValue(), ("enum [[1]]",)),
        ({"type": "array", "items": {"type": "integer"}}, ArrayOf(INTEGER), ()),
        ({"type": "array"}, ArrayOf(AnyValue()), ()),
        (
            {"type": "array", "items": [{"type": "string"}]},
            ArrayOf(AnyValue()),
            ('items [{"type": "string"}]',),
        ),
        ({}, AnyValue(), ()),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, UnionOf((STRING, INTEGER)), ()),
        ({"oneOf": [{"type": "string"}, {}]}, AnyValue(), ()),
        ({"allOf": [{"type": "integer", "minimum": 0}]}, INTEGER, ("minimum 0",)),
        ({"not": {"type": "string"}}, AnyValue(), ('not {"type": "string"}',)),
        (
            {"type": "string", "pattern": "^a$", "minLength": 1, "format": "email"},
            STRING,
            ('format "email"', "minLength 1", 'pattern "^a$"'),
        ),
        (
            {"type": "array", "items": {"type": "integer", "minimum": 1}, "maxItems": 3},
            ArrayOf(INTEGER),
            ("each item: minimum 1", "maxItems 3"),
        ),
        (
            {"anyOf": [{"type": "string", "maxLength": 2}, {"type": "null"}]},
            UnionOf((STRING, NULL)),
            ("anyOf[0]: maxLength 2",),
        ),
    ],
)
def test_schema_to_type_and_rules(schema, expected, rules):
    _, prop = _one_property(schema)
    assert prop.type == expected
    assert prop.rules == rules


def test_const_true_is_not_const_one():
    assert Const(True) != Const(1)
    assert Const(1.0) != Const(1)
    assert len({Const(True), Const(1), Const(0), Const(False), Const(None)}) == 5


def test_string_enums_become_named_definitions_nullable_as_a_union():
    model, prop = _one_property({"enum": ["a", "b", None, "a"], "description": "Pick one."})
    assert isinstance(prop.type, UnionOf)
    ref, nullable = prop.type.variants
    assert nullable == NULL and isinstance(ref, Ref)
    enum = model.definition(ref.name)
    assert isinstance(enum, EnumDef) and [c.value for c in enum.cases] == ["a", "b"]
    assert enum.description == "Pick one."
    assert without_null(prop.type) == (ref, True)


def test_nested_objects_required_optional_and_closed():
    model, prop = _one_property(
        {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a", "c"],
            "additionalProperties": False,
            "minProperties": 1,
        },
        required=True,
    )
    assert prop.required and isinstance(prop.type, Ref)
    inner = model.object(prop.type.name)
    assert [(p.wire_name, p.required, p.type) for p in inner.properties] == [
        ("a", True, STRING),
        ("b", False, INTEGER),
        ("c", True, AnyValue()),  # required but not declared: any value
    ]
    assert inner.additional is False and inner.rules == ("minProperties 1",)


def test_an_object_whose_additional_properties_is_a_schema_is_a_map():
    model, prop = _one_property({"type": "object", "additionalProperties": {"type": "integer"}})
    inner = model.object(prop.type.name)
    assert (inner.properties, inner.values) == ((), INTEGER)
    assert inner.rules == ('additionalProperties {"type": "integer"}',)
    model, prop = _one_property({"type": "object", "additionalProperties": True})
    assert model.object(prop.type.name).values is None


def test_refs_share_one_definition_and_may_recur():
    plan = _plan(
        {
            "e": {
                "definitions": {
                    "node": {
                        "type": "object",
                        "properties": {
                            "kids": {"type": "array", "items": {"$ref": "#/definitions/node"}}
                        },
                    },
                    "code": {"type": "string", "pattern": "^[A-Z]$"},
                },
                "properties": {
                    "a": {"$ref": "#/definitions/node"},
                    "b": {"$ref": "#/definitions/node"},
                    "c": {"$ref": "#/definitions/code"},
                    "d": {"$ref": "#/definitions/code"},
                    "me": {"$ref": "#"},
                },
            }
        }
    )
    model = build_model(plan, plan_version=1)
    root = model.object(model.events[0].properties)
    a, b, c, d, me = root.properties
    assert a.type == b.type and isinstance(a.type, Ref)
    node = model.object(a.type.name)
    assert node.properties[0].type == ArrayOf(a.type)  # recursive
    assert me.type == Ref(root.name)
    assert c.type == d.type == STRING
    assert c.rules == d.rules == ('pattern "^[A-Z]$"',)


def test_an_event_whose_schema_is_a_ref_takes_the_referenced_object():
    plan = _plan(
        {
            "e": {
                "$ref": "#/definitions/body",
                "definitions": {
                    "body": {
                        "type": "object",
                        "description": "The body.",
                        "properties": {
                            "a": {"type": "string"},
                            "me": {"$ref": "#/definitions/body"},
                        },
                        "required": ["a"],
                    }
                },
            }
        }
    )
    model = build_model(plan, plan_version=1)
    (event,) = model.events
    root = model.object(event.properties)
    assert [(p.wire_name, p.required) for p in root.properties] == [("a", True), ("me", False)]
    assert root.properties[1].type == Ref(root.name)
    assert event.description == "The body." and len(model.definitions) == 1


def test_doc_lines_keep_text_but_no_line_breaks_or_controls():
    assert doc_lines("a\r\nb\u2028c\x00d\n\n") == ["a", "b", "c d"]
    assert doc_lines(None) == [] and doc_lines("  \n") == []
    assert doc_lines("\ud800x") == [" x"]  # a lone surrogate cannot be written as UTF-8


@pytest.mark.parametrize("language", ["typescript", "python"])
def test_output_is_deterministic_whatever_the_key_order(language):
    plan = load_plan("every_construct_plan.json")
    reordered = json.loads(json.dumps(plan, sort_keys=True))
    reordered["events"] = dict(reversed(list(reordered["events"].items())))
    for schema in reordered["events"].values():
        if "properties" in schema:
            schema["properties"] = dict(reversed(list(schema["properties"].items())))
    first = generate(plan, language, plan_version=3, app_name="Shop")
    assert generate(plan, language, plan_version=3, app_name="Shop") == first
    assert generate(reordered, language, plan_version=3, app_name="Shop") == first


@pytest.mark.parametrize(
    ("version", "app_name", "expected"),
    [
        (3, "Shop", "from plan version 3 of app Shop."),
        (None, None, "from a draft plan (not a published version)."),
        (1, "Evil */\nname\u2028x", "from plan version 1 of app Evil */ name x."),
    ],
)
@pytest.mark.parametrize(("language", "comment"), [("typescript", "// "), ("python", "# ")])
def test_every_file_starts_with_the_header(version, app_name, expected, language, comment):
    (file,) = generate(
        load_plan("demo_plan.json"), language, plan_version=version, app_name=app_name
    )
    lines = file.content.splitlines()
    if language == "python":  # first an encoding line, so the app name cannot declare one
        assert lines.pop(0) == "# -*- coding: utf-8 -*-"
    assert lines[0].startswith(comment + "Generated by the Live Validation Dashboard ")
    assert lines[0].endswith(expected)
    # A draft is regenerated from its plan file; a version from the service.
    plan_file = " PLAN_FILE" if version is None else ""
    assert lines[2] == f"{comment}  lvd codegen --language {language} --out DIR{plan_file}"


def test_unknown_language_is_refused_with_the_list():
    with pytest.raises(CodegenError) as caught:
        generate({"events": {}}, "cobol", plan_version=1)
    assert all(language in str(caught.value) for language in LANGUAGES)


def test_a_language_without_its_module_is_not_available(monkeypatch):
    monkeypatch.setattr(codegen, "LANGUAGES", (*LANGUAGES, "nolang"))
    with pytest.raises(CodegenError, match="nolang is not available"):
        generate({"events": {}}, "nolang", plan_version=1)


@pytest.mark.parametrize("plan", [[], {"event": {}}, {"events": {"e": {"type": "nope"}}}])
def test_a_bad_plan_is_a_codegen_error(plan):
    with pytest.raises(CodegenError, match="The plan is not valid"):
        generate(plan, "typescript", plan_version=None)


@pytest.mark.parametrize("path", ["", "/abs.ts", "../x.ts", "a/../b.ts", "a//b.ts", "./a.ts"])
def test_code_files_cannot_leave_their_folder(path):
    with pytest.raises(ValueError, match="Unsafe"):
        CodeFile(path, "")


def test_names_that_collide_after_conversion_cost_linear_probes():
    # 20,000 property names that all convert to "x" (a 290 KB plan fits the size cap) once took
    # minutes per GET: each name tried every suffix taken before it. The scope counts its
    # look-ups; checked every 1,000 names, so the quadratic version fails within a second.
    chars = "-_ .:/"
    texts = []
    for i in range(20_000):
        suffix = ""
        while True:
            i, digit = divmod(i, len(chars))
            suffix += chars[digit]
            if not i:
                break
        texts.append("x" + suffix)
    texts[5:5] = ["x2", "X_3", "x_2"]  # literal names equal to suffixed ones
    scope = _Scope()
    given = []
    for count, text in enumerate(texts, 1):
        given.append(scope.names(text, "property"))
        if count % 1000 == 0:
            # One look-up per convention and name, plus a few where literal and suffixed meet.
            assert scope.probes <= 4 * count + 24, (count, scope.probes)
    assert len({n.camel for n in given}) == len(texts)
    for convention in ("camel", "pascal", "snake", "constant"):
        found = [getattr(n, convention) for n in given]
        assert len(set(found)) == len(found), convention
    assert [n.camel for n in given[:3]] == ["x", "x2", "x3"]
    assert [n.snake for n in given[:3]] == ["x", "x_2", "x_3"]


def test_long_names_are_cut_with_a_hash_and_stay_unique():
    # Kotlin writes a .class file per type; file names end at 255 bytes. An event named with
    # 255 characters, or objects nested under 60-character property names, gave longer names.
    def nested(depth: int) -> dict:
        if not depth:
            return {"type": "string"}
        return {"type": "object", "properties": {chr(96 + depth) * 60: nested(depth - 1)}}

    events = {"x" * 255: {}, "x" * 254 + "y": {}, "deep": nested(5)}
    model = build_model(_plan(events), plan_version=1)
    identifiers = [d.name for d in model.definitions]
    for event in model.events:
        identifiers += [getattr(event.names, c) for c in ("camel", "pascal", "snake", "constant")]
    for definition in model.definitions:
        for prop in getattr(definition, "properties", ()):
            identifiers += [prop.names.camel, prop.names.constant]
    assert max(len(name) for name in identifiers) == MAX_IDENTIFIER
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) for name in identifiers)
    assert len({d.name.lower() for d in model.definitions}) == len(model.definitions)
    first, second = model.events[1:]  # "deep" sorts first
    assert first.names.camel != second.names.camel
    assert first.names.camel[:80] == second.names.camel[:80] == "x" * 80
    assert second.names.constant.isupper() and first.names.constant != second.names.constant
    # Stable: the same plan gives the same names.
    assert build_model(_plan(events), plan_version=1) == model


def test_a_chain_of_hundreds_of_refs_is_a_codegen_error_not_a_crash():
    # An outside tester's plan: D0 → D1 → … → D400 → integer (passes the plan's checks).
    definitions = {f"D{i}": {"$ref": f"#/definitions/D{i + 1}"} for i in range(400)}
    definitions["D400"] = {"type": "integer"}
    schema = {
        "type": "object",
        "properties": {"d": {"$ref": "#/definitions/D0"}},
        "definitions": definitions,
    }
    for language in LANGUAGES:
        with pytest.raises(CodegenError, match="too deeply"):
            generate({"events": {"e": schema}}, language, plan_version=1)
