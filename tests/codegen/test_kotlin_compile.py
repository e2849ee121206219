"""Generated Kotlin compiled by kotlinc (npm kotlin-compiler, tests/codegen/kotlin) against stubs
of analytics-kotlin 1.25.0 and kotlinx-serialization-json 1.5.1 (tests/codegen/kotlin/stubs: the
exact signatures it calls, copied from segmentio/analytics-kotlin core/.../core/Analytics.kt and
Kotlin/kotlinx.serialization formats/json/.../JsonElement.kt; neither library is on a registry
reachable here). One kotlinc run compiles the code of the demo plan, of the every-construct
plan and of a plan of hostile names together with a small main, which the JVM then runs: what
track() received must be the exact wire JSON, and valid against the plan. A second run compiles
code that misuses the generated API and must fail on each misuse.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from app.codegen import build_model, generate
from app.codegen.kotlin import string_literal
from app.codegen.model import (
    ArrayOf,
    Const,
    EnumDef,
    ObjectDef,
    Primitive,
    Ref,
    TrackingModel,
    TypeNode,
    inline_maps,
    without_null,
)
from app.validation import VALID, compile_plan

pytestmark = pytest.mark.system

ROOT = Path(__file__).resolve().parents[2]
KOTLIN_DIR = ROOT / "tests" / "codegen" / "kotlin"
COMPILER = KOTLIN_DIR / "node_modules" / "kotlin-compiler"
STUBS = sorted((KOTLIN_DIR / "stubs").glob("*.kt"))
DEMO_PLAN = json.loads((ROOT / "app" / "validation" / "demo_plan.json").read_text())
EVERY_PLAN = json.loads((ROOT / "tests" / "codegen" / "every_construct_plan.json").read_text())
EXAMPLES = json.loads((ROOT / "tests" / "codegen" / "every_construct_examples.json").read_text())
EVERY_EXAMPLES = EXAMPLES["every_construct_plan.json"]

# Kotlin's hard keywords (Kotlin language specification, "Keywords and operators").
KOTLIN_KEYWORDS = """as break class continue do else false for fun if in interface is null object
package return super this throw true try typealias typeof val var when while""".split()
# Names Kotlin must escape or rename: "$" starts a template, "*/" and "/*" end or nest a comment.
HOSTILE_EVENT = 'Paid "$total" */ /* \\(x) ünï 🚀'
HOSTILE_PLAN = {
    "events": {
        HOSTILE_EVENT: {
            "type": "object",
            "description": "Ends */ early /* or nests; ${x} is no template",
            "properties": {
                "$amount": {"type": "integer", "minimum": 1},
                "price €": {"type": "number"},
                "kind": {"enum": ['a"b', "$c", "\\(d)", "ü", "A B", "a-b"]},
                "note": {"type": ["string", "null"]},
                "when": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}},
                "line": {
                    "type": "object",
                    "properties": {"sku id": {"type": "string"}, "qty": {"type": "integer"}},
                    "required": ["sku id"],
                    "additionalProperties": False,
                },
                "source": {"const": "app"},
                "skipped": {"type": "string"},
                **{word: {"type": "string"} for word in KOTLIN_KEYWORDS if word != "when"},
            },
            "required": ["$amount", "price €", "kind", "note", "line", "source", "when"],
        },
        # Class names that differ only in case, and one the file's own JVM class has.
        "aBc": {"type": "object", "properties": {"x": {"type": "string"}}},
        "abc": {"type": "object", "properties": {"x": {"type": "string"}}},
        "Tracking": {
            "type": "object",
            "properties": {"plan kt": {"type": "object", "properties": {"y": {"type": "string"}}}},
        },
    }
}


def _nested(depth: int) -> dict:
    """Objects nested under 60-character property names (type names of 250+ characters)."""
    if not depth:
        return {"type": "string"}
    return {"type": "object", "properties": {chr(96 + depth) * 60: _nested(depth - 1)}}


BIG = 123456789012345678901234567890
# Plans an outside tester found Kotlin failing on: maps of each other (a RecursionError), type
# names past 255 bytes (one .class file each), an integer const beyond Long, an optional const.
EDGE_PLAN = {
    "events": {
        "x" * 255: {"type": "object", "properties": {"deep": _nested(4)}, "required": ["deep"]},
        "maps": {
            "definitions": {
                "M": {"type": "object", "additionalProperties": {"$ref": "#/definitions/N"}},
                "N": {"type": "object", "additionalProperties": {"$ref": "#/definitions/M"}},
                "S": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "additionalProperties": {"$ref": "#/definitions/S"},
                    },
                },
            },
            "type": "object",
            "properties": {"m": {"$ref": "#/definitions/M"}, "s": {"$ref": "#/definitions/S"}},
        },
        "consts": {
            "type": "object",
            "properties": {
                "big": {"const": BIG},
                "small": {"const": -(2**63)},
                "maybe": {"const": "v"},
                "unset": {"const": 1},
            },
            "required": ["big", "small"],
        },
    }
}
EDGE_EXAMPLES = {
    "x" * 255: {"deep": {"d" * 60: {"c" * 60: {"b" * 60: {"a" * 60: "deep"}}}}},
    "maps": {"m": {"k": {"l": {}}}, "s": {"k": {"l": {"z": {}}}}},
    "consts": {"big": BIG, "small": -(2**63), "maybe": "v"},
}


def kotlinc(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not (COMPILER / "bin" / "kotlinc").is_file():
        pytest.fail(f"{COMPILER} is missing: run `cd {KOTLIN_DIR} && npm ci` (make test does)")
    # One short compile: the client compiler only and a serial collector halve its CPU time.
    env = {**os.environ, "JAVA_OPTS": "-Xmx1G -Xms256M -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    return subprocess.run(
        [str(COMPILER / "bin" / "kotlinc"), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def kotlin_source(plan: dict, package: str) -> str:
    """The generated file, moved to its own package so several plans compile side by side."""
    (file,) = generate(plan, "kotlin", plan_version=4, app_name="Shop */ /* app $x")
    assert file.path == "trackingplan/TrackingPlan.kt"
    assert "\npackage trackingplan\n" in file.content
    return file.content.replace("\npackage trackingplan\n", f"\npackage {package}\n", 1)


def _names(plan: dict, event: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The generated method name, parameter names by wire name and type names by wire name."""
    model = build_model(plan, plan_version=4)
    found = next(e for e in model.events if e.name == event)
    props = model.object(found.properties).properties
    types = {p.wire_name: getattr(p.type, "name", "") for p in props}
    return found.names.camel, {p.wire_name: p.names.camel for p in props}, types


def main_source() -> str:
    """A main that sends one event of each plan with the generated API and prints what
    track() received as JSON lines (the stubbed JsonObject prints as the library does)."""
    method, arg, types = _names(HOSTILE_PLAN, HOSTILE_EVENT)
    model = build_model(HOSTILE_PLAN, plan_version=4)
    kind = model.definition(types["kind"])
    dollar_c = next(c.names.constant for c in kind.cases if c.value == "$c")  # type: ignore[union-attr]
    line = model.object(types["line"])
    sku = next(p.names.camel for p in line.properties if p.wire_name == "sku id")
    every = ExampleCalls(EVERY_PLAN, "every")
    calls = "\n    ".join(every.call(name, example)[0] for name, example in EVERY_EXAMPLES.items())
    edge = ExampleCalls(EDGE_PLAN, "edge")
    calls += "\n    " + "\n    ".join(
        edge.call(n, example)[0] for n, example in EDGE_EXAMPLES.items()
    )
    return f"""
import com.segment.analytics.kotlin.core.Analytics
import com.segment.analytics.kotlin.core.Configuration
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive

fun main() {{
    val analytics = Analytics(Configuration("write-key"))
    val demoPlan = demo.TrackingPlan(analytics)
    demoPlan.purchase(
        currency = "EUR",
        price = 9.5,
        items = listOf(
            demo.PurchaseItemsItem(sku = "A-1", quantity = 2L),
            demo.PurchaseItemsItem(sku = "B\\"2\\" \\$x"),
        ),
    )
    demoPlan.userLogin(userId = 42L, method = demo.UserLoginMethod.GOOGLE)
    demoPlan.screenView(screenName = "Home")
    hostile.TrackingPlan(analytics).{method}(
        {arg["$amount"]} = 3L,
        {arg["price €"]} = 1.25,
        {arg["kind"]} = hostile.{types["kind"]}.{dollar_c},
        {arg["note"]} = null,
        {arg["when"]} = false,
        {arg["line"]} = hostile.{line.name}({sku} = "s 1"),
        {arg["tags"]} = listOf("x", "${{'$'}}y"),
    )
    {calls}
    for ((name, properties) in analytics.tracked) {{
        println(JsonObject(mapOf("event" to JsonPrimitive(name), "properties" to properties)))
    }}
}}
"""


def json_element(value: object) -> str:
    """A Kotlin expression building value as a JsonElement (for parameters typed so)."""
    if value is None:
        return "JsonNull"
    if isinstance(value, bool | int | float):
        return f"JsonPrimitive({kotlin_number(value)})"
    if isinstance(value, str):
        return f"JsonPrimitive({string_literal(value)})"
    if isinstance(value, list):
        return f"JsonArray(listOf<JsonElement>({', '.join(map(json_element, value))}))"
    assert isinstance(value, dict)
    pairs = ", ".join(f"{string_literal(k)} to {json_element(v)}" for k, v in value.items())
    return f"JsonObject(mapOf<String, JsonElement>({pairs}))"


def kotlin_number(value: object, kind: str | None = None) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if kind == "number" or isinstance(value, float):
        return repr(float(value))  # type: ignore[arg-type]
    return f"{value}L"


class ExampleCalls:
    """Kotlin calls of a plan's generated API that send each example, and the JSON each sends:
    the example without the optional properties it sets to null (null leaves a key out)."""

    def __init__(self, plan: dict, package: str) -> None:
        self.model: TrackingModel = build_model(plan, plan_version=4)
        self.package = package

    def call(self, event_name: str, example: dict) -> tuple[str, dict]:
        event = next(e for e in self.model.events if e.name == event_name)
        obj = self.model.object(event.properties)
        if not obj.properties:  # the method takes a Map<String, T> or a JsonObject
            method = f"{self.package}.TrackingPlan(analytics).{event.names.camel}"
            expr, sent = self.value(Ref(obj.name), example)
            return f"{method}({expr})", sent
        args, sent = self._arguments(obj, example)
        return f"{self.package}.TrackingPlan(analytics).{event.names.camel}({args})", sent

    def _arguments(self, obj: ObjectDef, value: dict) -> tuple[str, dict]:
        args, sent = [], {}
        declared = {p.wire_name: p for p in obj.properties}
        assert set(value) <= set(declared), f"undeclared keys in the example of {obj.name}"
        for prop in obj.properties:
            if prop.wire_name not in value or (value[prop.wire_name] is None and not prop.required):
                continue
            fixed = prop.required and (
                isinstance(prop.type, Const) or prop.type == Primitive("null")
            )
            expr, wire = self.value(prop.type, value[prop.wire_name])
            if not prop.required and isinstance(prop.type, Const):  # a flag: true sends it
                expr = "true"
            if not fixed:
                args.append(f"{prop.names.camel} = {expr}")
            sent[prop.wire_name] = wire
        for prop in obj.properties:  # fixed values are sent without being passed
            if prop.required and isinstance(prop.type, Const):
                sent[prop.wire_name] = prop.type.value
        return ", ".join(args), sent

    def value(self, node: TypeNode, value: object) -> tuple[str, object]:
        rest, nullable = without_null(node)
        if value is None:  # a nullable parameter takes null, a JsonElement one JsonNull
            return ("null" if nullable and rest is not None else "JsonNull"), None
        if isinstance(rest, Primitive):
            if rest.kind == "string":
                return string_literal(value), value  # type: ignore[arg-type]
            return kotlin_number(value, rest.kind), value
        consts = [rest] if isinstance(rest, Const) else getattr(rest, "variants", [])
        kinds = {c.kind for c in consts if isinstance(c, Const)}
        if consts and all(isinstance(c, Const) for c in consts) and len(kinds) == 1:
            if isinstance(value, str):
                return string_literal(value), value
            return kotlin_number(value, kinds.pop()), value
        if isinstance(rest, ArrayOf):
            items = [self.value(rest.items, v) for v in value]  # type: ignore[union-attr]
            return f"listOf({', '.join(i[0] for i in items)})", [i[1] for i in items]
        if isinstance(rest, Ref):
            found = self.model.definition(rest.name)
            if isinstance(found, EnumDef):
                case = next(c for c in found.cases if c.value == value)
                return f"{self.package}.{found.name}.{case.names.constant}", value
            if found.name in inline_maps(self.model):  # a Map<String, T>, else a JsonObject
                pairs = [(k, self.value(found.values, v)) for k, v in value.items()]  # type: ignore[union-attr]
                exprs = ", ".join(f"{string_literal(k)} to {e}" for k, (e, _) in pairs)
                return f"mapOf({exprs})", {k: wire for k, (_, wire) in pairs}
            if not found.properties:
                return json_element(value), value
            args, sent = self._arguments(found, value)  # type: ignore[arg-type]
            if not any(not p.required or not isinstance(p.type, Const) for p in found.properties):
                return f"{self.package}.{found.name}", sent
            return f"{self.package}.{found.name}({args})", sent
        return json_element(value), value  # JsonElement: any value, or a union


# Each line misuses the demo plan's generated API once; kotlinc must refuse every one.
MISUSE = """
fun misuse(plan: demo.TrackingPlan) {
    plan.screenView()
    plan.userLogin(userId = 1L, method = "google")
    plan.userLogin(userId = "42")
    plan.purchase(currency = "EUR", price = 1.0, items = listOf("A-1"))
}
"""
MISUSED_LINES = {3, 4, 5, 6}


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("kotlin")
    sources = {
        # The generated file name: its top-level functions are the JVM class TrackingPlanKt.
        "demo/TrackingPlan.kt": kotlin_source(DEMO_PLAN, "demo"),
        "every/TrackingPlan.kt": kotlin_source(EVERY_PLAN, "every"),
        "hostile/TrackingPlan.kt": kotlin_source(HOSTILE_PLAN, "hostile"),
        "edge/TrackingPlan.kt": kotlin_source(EDGE_PLAN, "edge"),
        "Main.kt": main_source(),
    }
    for name, text in sources.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)
    # -Werror: the generated code compiles without a single warning.
    result = kotlinc("-Werror", *STUBS, *sources, "-d", "classes", cwd=folder)
    return folder, result


def test_generated_kotlin_compiles_for_both_plans_and_hostile_names(compiled) -> None:
    folder, result = compiled
    assert result.returncode == 0, result.stdout + result.stderr
    assert (folder / "classes" / "demo" / "TrackingPlan.class").is_file()
    assert (folder / "classes" / "every" / "TrackingPlan.class").is_file()
    # One .class file per class: none may differ from another only in case (macOS, Windows).
    for package in ("demo", "every", "hostile", "edge"):
        names = [p.name for p in (folder / "classes" / package).iterdir()]
        assert len({n.lower() for n in names}) == len(names), sorted(names)


def test_the_generated_calls_hand_analytics_kotlin_the_exact_wire_json(compiled) -> None:
    folder, result = compiled
    assert result.returncode == 0, result.stdout + result.stderr
    classpath = f"classes:{COMPILER / 'lib' / 'kotlin-stdlib.jar'}"
    run = subprocess.run(
        ["java", "-cp", classpath, "MainKt"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    sent = [json.loads(line) for line in run.stdout.splitlines()]
    every = ExampleCalls(EVERY_PLAN, "every")
    edge_sent = sent[-len(EDGE_EXAMPLES) :]
    sent = sent[: -len(EDGE_EXAMPLES)]
    assert sent[4:] == [
        {"event": name, "properties": every.call(name, example)[1]}
        for name, example in EVERY_EXAMPLES.items()
    ]
    assert edge_sent == [
        {"event": name, "properties": example} for name, example in EDGE_EXAMPLES.items()
    ]
    assert f'"big":{BIG},' in run.stdout  # the exact digits, a JSON number
    for message in edge_sent:
        verdict = compile_plan(EDGE_PLAN, version=4).validate(
            message["event"], message["properties"]
        )
        assert verdict.status == VALID, verdict.violations
    assert sent[:4] == [
        {
            "event": "purchase",
            "properties": {
                "currency": "EUR",
                "items": [{"quantity": 2, "sku": "A-1"}, {"sku": 'B"2" $x'}],
                "price": 9.5,
            },
        },
        {"event": "user_login", "properties": {"method": "google", "userId": 42}},
        {"event": "screen_view", "properties": {"screen_name": "Home"}},
        {
            "event": HOSTILE_EVENT,
            "properties": {
                "$amount": 3,
                "kind": "$c",
                "line": {"sku id": "s 1"},
                "note": None,
                "price €": 1.25,
                "source": "app",
                "tags": ["x", "$y"],
                "when": False,
            },
        },
    ]
    # Integers go out as JSON integers, not 3.0.
    assert '"$amount":3,' in run.stdout
    for i, message in enumerate(sent):
        plan = HOSTILE_PLAN if i == 3 else DEMO_PLAN if i < 3 else EVERY_PLAN
        verdict = compile_plan(plan, version=4).validate(message["event"], message["properties"])
        assert verdict.status == VALID, verdict.violations


def test_misusing_the_generated_api_does_not_compile(compiled) -> None:
    folder, result = compiled
    assert result.returncode == 0, result.stdout + result.stderr
    (folder / "Misuse.kt").write_text(MISUSE)
    bad = kotlinc("-cp", "classes", "Misuse.kt", "-d", "misuse", cwd=folder)
    assert bad.returncode != 0
    failing = {int(m) for m in re.findall(r"Misuse\.kt:(\d+):\d+: error", bad.stderr)}
    assert failing == MISUSED_LINES, bad.stderr
