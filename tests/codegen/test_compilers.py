"""The generated code through the real compilers: tsc (TypeScript 7, every strict option) and
mypy --strict, for the demo plan and the every-construct plan. The examples compile and run;
misuse (a missing required property, a wrong enum value, a string for an integer, ...) fails on
exactly the lines that misuse the API."""

# ruff: noqa: E501 (each misuse stays on one line, so the compiler's error names that line)

from __future__ import annotations

import json
import re
import subprocess

import pytest

from app.codegen import build_model
from app.codegen.python import function_name
from tests.codegen.helpers import (
    PLAN_FILES,
    ROOT,
    SDK_NODE_MODULES,
    load_examples,
    load_plan,
    marked_lines,
    run_mypy,
    run_tsc,
    write_generated,
)

pytestmark = pytest.mark.system  # starts tsc, mypy and node

MISUSE = "// MISUSE"
PY_MARK = "# MISUSE"
TS_ERROR = re.compile(r"^usage\.ts\((\d+),\d+\): error TS\d+", re.M)
PY_ERROR = re.compile(r"^usage\.py:(\d+): error:", re.M)


def _ts(value) -> str:
    """A JSON value as a TypeScript expression (JSON's escapes are JavaScript's)."""
    return json.dumps(value, ensure_ascii=True)


def _methods(plan_name: str) -> dict[str, str]:
    model = build_model(load_plan(plan_name), plan_version=7)
    return {event.name: event.names.camel for event in model.events}


def _ts_usage(plan_name: str) -> tuple[str, list]:
    """usage.ts calling every event with its example four ways, and the calls it must make."""
    lines = [
        'import { BrowserTracker, EVENT_NAMES, NodeTracker, PLAN_VERSION } from "./tracking_plan";',
        "declare const console: { log(text: string): void };",
        "const calls: unknown[] = [];",
        "const browser = new BrowserTracker({",
        "  track: (event: string, properties?: object, options?: object) =>",
        "    calls.push([event, properties, options]),",
        "});",
        "const node = new NodeTracker({ track: (message: object) => { calls.push(message); } });",
        "export const version: number | null = PLAN_VERSION;",
    ]
    expected: list = []
    methods = _methods(plan_name)
    for name, example in load_examples()[plan_name].items():
        method, props = methods[name], _ts(example)
        lines += [
            f"export const pushed_{method}: number = browser.{method}({props});",
            f"browser.track({_ts(name)}, {props});",
            f'node.{method}({{ userId: "u1" }}, {props});',
            f'node.track({{ anonymousId: "a1" }}, {_ts(name)}, {props}, {{ messageId: "m1" }});',
        ]
        expected += [
            [name, example, None],
            [name, example, None],
            {"userId": "u1", "event": name, "properties": example},
            {"messageId": "m1", "anonymousId": "a1", "event": name, "properties": example},
        ]
    lines.append("console.log(JSON.stringify({ calls, names: EVENT_NAMES }));")
    return "\n".join(lines) + "\n", expected


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_typescript_compiles_strict_and_sends_exact_names(plan_name, tmp_path):
    write_generated(plan_name, "typescript", tmp_path)
    usage, expected = _ts_usage(plan_name)
    (tmp_path / "usage.ts").write_text(usage, encoding="utf-8")
    result = run_tsc(tmp_path, ["tracking_plan.ts", "usage.ts"], outDir="out")
    assert result.returncode == 0, result.stdout + result.stderr
    ran = subprocess.run(
        ["node", "out/usage.js"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 0, ran.stderr
    output = json.loads(ran.stdout)
    assert output["calls"] == expected
    assert output["names"] == sorted(load_examples()[plan_name])


def test_typescript_fits_the_real_analytics_next_and_analytics_node(tmp_path):
    """The structural client interfaces accept the SDKs' own classes (their .d.ts from npm),
    and the browser tracker returns what analytics-next's track returns."""
    if not (SDK_NODE_MODULES / "@segment" / "analytics-node").is_dir():
        pytest.fail(f"{SDK_NODE_MODULES} is missing: run `npm ci` in its folder (make test does)")
    write_generated("demo_plan.json", "typescript", tmp_path)
    (tmp_path / "compat.ts").write_text(
        """\
import { AnalyticsBrowser, Context } from "@segment/analytics-next";
import { Analytics } from "@segment/analytics-node";
import { BrowserTracker, NodeTracker, UserLoginMethod } from "./tracking_plan";

export const browser = new BrowserTracker(AnalyticsBrowser.load({ writeKey: "k" }));
export const sent: Promise<Context> = browser.userLogin(
  { userId: 1, method: UserLoginMethod.Google },
  { context: { ip: "0.0.0.0" } },
);
export const node = new NodeTracker(new Analytics({ writeKey: "k" }));
export const done: void = node.purchase(
  { userId: "u1" },
  { price: 2.5, currency: "EUR", items: [{ sku: "a", quantity: 1 }] },
  { timestamp: new Date(), context: { ip: "0.0.0.0" }, integrations: { All: true } },
);
""",
        encoding="utf-8",
    )
    result = run_tsc(
        tmp_path,
        ["tracking_plan.ts", "compat.ts"],
        module="nodenext",
        moduleResolution="nodenext",
        skipLibCheck=True,  # the SDKs' own declarations are not ours to hold to these options
        lib=["es2022", "dom"],
        paths={"@segment/*": [str(SDK_NODE_MODULES / "@segment" / "*")]},
    )
    assert result.returncode == 0, result.stdout + result.stderr


TS_MISUSE = {
    "demo_plan.json": """\
import { BrowserTracker, NodeTracker, UserLoginMethod } from "./tracking_plan";
const browser = new BrowserTracker({ track: (_e: string, _p?: object, _o?: object) => 0 });
const node = new NodeTracker({ track: (_m: object) => 0 });
browser.purchase({ price: 1 }); // MISUSE
browser.userLogin({ userId: 1, method: "yahoo" }); // MISUSE
browser.userLogin({ userId: "42" }); // MISUSE
browser.purchase({ price: 1, currency: "EUR", colour: "red" }); // MISUSE
browser.purchase({ price: 1, currency: "EUR", items: [{ quantity: 1 }] }); // MISUSE
browser.track("user_login", { userId: 1, method: "yahoo" }); // MISUSE
browser.track("no_such_event", {}); // MISUSE
node.screenView({}, { screen_name: "home" }); // MISUSE
node.userLogin({ userId: "u1" }, { userId: 1.5, method: UserLoginMethod.Apple });
const items: readonly { sku: string }[] = [{ sku: "a" }];
browser.purchase({ price: 1, currency: "EUR", items });
export const returned: string = browser.screenView({ screen_name: "home" }); // MISUSE
""",
    "every_construct_plan.json": """\
import { BrowserTracker } from "./tracking_plan";
const browser = new BrowserTracker({ track: (_e: string, _p?: object, _o?: object) => 0 });
browser.quotesEnd({ "*/": 1 }); // MISUSE
browser.hostilePropertyNames({ "": "e", "$ref": "r" }); // MISUSE
browser.hostilePropertyNames({ "": "e", "$ref": "r", "a-b": "d", "new\\nline": 1 }); // MISUSE
browser.class_({ class: "c", def: "1" }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1, currency: "EUR" }, id: true, declared_only_by_required: 1 }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1 }, id: 1, declared_only_by_required: 1 }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1, currency: "EUR" }, id: 1, declared_only_by_required: 1, tree: { label: "a", children: [{}] } }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1, currency: "EUR" }, id: 1, declared_only_by_required: 1, payment: { bank: "x" } }); // MISUSE
browser.track("Order Completed", { order_id: "ord_1", total: 1, quantity: 1, currency: "EUR", products: [], mixed: false }); // MISUSE
browser.track("Order Completed", { order_id: "ord_1", total: 1, quantity: 1, currency: "EUR", products: [{ sku: "a" }] }); // MISUSE
browser.track("Order Completed", { order_id: "ord_1", total: 1, quantity: 1, currency: "JPY", products: [] }); // MISUSE
browser.track("Order Completed", { order_id: "ord_1", total: 1, quantity: 1, currency: "EUR", products: [], shipping: { address: { city: "B" }, extra: 1 } }); // MISUSE
browser.event({ "\\ud83c\\udf89": "party" }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1, currency: "EUR" }, id: 1, declared_only_by_required: 1, metadata: { k: 1 } }); // MISUSE
browser.unionsAndReferences({ price: { amount: 1, currency: "EUR" }, id: 1, declared_only_by_required: 1, nested_map: { a: { b: 2 } } }); // MISUSE
browser._1stPurchase({ "2nd": "x" });
""",
}


@pytest.mark.parametrize("plan_name", sorted(TS_MISUSE))
def test_typescript_misuse_fails_on_each_misusing_line(plan_name, tmp_path):
    write_generated(plan_name, "typescript", tmp_path)
    source = TS_MISUSE[plan_name]
    (tmp_path / "usage.ts").write_text(source, encoding="utf-8")
    result = run_tsc(tmp_path, ["tracking_plan.ts", "usage.ts"])
    assert result.returncode != 0
    failed = {int(n) for n in TS_ERROR.findall(result.stdout)}
    assert failed == marked_lines(source, MISUSE), result.stdout


_RECORDER = """\
import datetime
import typing

import tracking_plan as tp


class Recorder:
    def track(
        self,
        user_id: str | None = None,
        event: str | None = None,
        properties: typing.Any = None,
        context: dict[str, typing.Any] | None = None,
        timestamp: datetime.datetime | None = None,
        anonymous_id: str | None = None,
        integrations: dict[str, typing.Any] | None = None,
        message_id: str | None = None,
    ) -> tuple[bool, dict[str, object]]:
        return True, {"event": event, "properties": properties}


rec = Recorder()
version: int | None = tp.PLAN_VERSION
"""


def _py_usage(plan_name: str) -> str:
    model = build_model(load_plan(plan_name), plan_version=7)
    examples = load_examples()[plan_name]
    lines = [_RECORDER]
    for n, event in enumerate(model.events):
        example = repr(examples[event.name])
        lines += [
            f"sent_{n}: tuple[bool, dict[str, object]] = tp.{function_name(event)}("
            f"rec, {example}, user_id='u1')",
            f"tp.track(rec, {event.name!r}, {example}, anonymous_id='a1', message_id='m1')",
        ]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_python_passes_mypy_strict_with_every_example(plan_name, tmp_path):
    write_generated(plan_name, "python", tmp_path)
    (tmp_path / "usage.py").write_text(_py_usage(plan_name), encoding="utf-8")
    result = run_mypy(tmp_path, ["tracking_plan.py", "usage.py"])
    assert result.returncode == 0, result.stdout + result.stderr


PY_MISUSE = {
    "demo_plan.json": """\
tp.track_purchase(rec, {"price": 1.0}, user_id="u")  # MISUSE
tp.track_user_login(rec, {"userId": 1, "method": "yahoo"}, user_id="u")  # MISUSE
tp.track_user_login(rec, {"userId": "42"}, user_id="u")  # MISUSE
tp.track_purchase(rec, {"price": 1.0, "currency": "EUR", "colour": "red"}, user_id="u")  # MISUSE
tp.track_purchase(rec, {"price": 1, "currency": "EUR", "items": [{"quantity": 1}]}, user_id="u")  # MISUSE
tp.track(rec, "user_login", {"userId": 1, "method": "yahoo"}, user_id="u")  # MISUSE
tp.track(rec, "no_such_event", {}, user_id="u")  # MISUSE
tp.track_purchase(rec, {"price": 1.0, "currency": "EUR"}, user="u")  # MISUSE
tp.track_user_login(rec, {"userId": 1, "method": "apple"}, user_id="u")
wrong: str = tp.track_screen_view(rec, {"screen_name": "home"}, user_id="u")  # MISUSE
""",
    "every_construct_plan.json": """\
tp.track_quotes_end(rec, {"*/": 1}, user_id="u")  # MISUSE
tp.track_hostile_property_names(rec, {"": "e", "$ref": "r"}, user_id="u")  # MISUSE
tp.track_class(rec, {"class": "c", "def": "1"}, user_id="u")  # MISUSE
tp.track_unions_and_references(rec, {"price": {"amount": 1, "currency": "EUR"}, "id": 1.5, "declared_only_by_required": 1}, user_id="u")  # MISUSE
tp.track_unions_and_references(rec, {"price": {"amount": 1, "currency": "EUR"}, "id": 1, "declared_only_by_required": 1, "tree": {"label": "a", "children": [{}]}}, user_id="u")  # MISUSE
tp.track_unions_and_references(rec, {"price": {"amount": 1, "currency": "EUR"}, "id": 1, "declared_only_by_required": 1, "again": {"id": 1}}, user_id="u")  # MISUSE
tp.track(rec, "Order Completed", {"order_id": "o", "total": 1, "quantity": 1, "currency": "EUR", "products": [], "mixed": False}, user_id="u")  # MISUSE
tp.track(rec, "Order Completed", {"order_id": "o", "total": 1, "quantity": 1.0, "currency": "EUR", "products": []}, user_id="u")  # MISUSE
tp.track(rec, "Order Completed", {"order_id": "o", "total": 1, "quantity": 1, "currency": "EUR", "products": [], "rating": 6}, user_id="u")  # MISUSE
tp.track_event(rec, {"\\U0001F389": "party"}, user_id="u")  # MISUSE
tp.track_unions_and_references(rec, {"price": {"amount": 1, "currency": "EUR"}, "id": 1, "declared_only_by_required": 1, "metadata": {"k": 1}}, user_id="u")  # MISUSE
tp.track_unions_and_references(rec, {"price": {"amount": 1, "currency": "EUR"}, "id": 1, "declared_only_by_required": 1, "nested_map": {"a": {"b": 2}}}, user_id="u")  # MISUSE
tp.track_1st_purchase(rec, {"2nd": "x"}, user_id="u")
""",
}


@pytest.mark.parametrize("plan_name", sorted(PY_MISUSE))
def test_python_misuse_fails_on_each_misusing_line(plan_name, tmp_path):
    write_generated(plan_name, "python", tmp_path)
    source = _RECORDER + PY_MISUSE[plan_name]
    (tmp_path / "usage.py").write_text(source, encoding="utf-8")
    result = run_mypy(tmp_path, ["tracking_plan.py", "usage.py"])
    assert result.returncode != 0
    failed = {int(n) for n in PY_ERROR.findall(result.stdout)}
    assert failed == marked_lines(source, PY_MARK), result.stdout


def _doc_block(language: str, containing: str) -> str:
    """The fenced block of docs/codegen.md in language that contains the text."""
    docs = (ROOT / "docs" / "codegen.md").read_text(encoding="utf-8")
    blocks = re.findall(rf"^```{language}\n(.*?)^```$", docs, re.M | re.S)
    (found,) = [b for b in blocks if containing in b]
    return found


def test_the_documented_python_snippet_passes_mypy_strict(tmp_path):
    # segment-analytics-python ships no py.typed: its import fails mypy --strict unless the
    # mypy override the docs show is set.
    write_generated("demo_plan.json", "python", tmp_path)
    snippet = _doc_block("python", "from segment.analytics.client import Client")
    (tmp_path / "snippet.py").write_text(snippet, encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text(_doc_block("toml", "tool.mypy"), encoding="utf-8")
    result = run_mypy(tmp_path, ["snippet.py"])
    assert result.returncode == 0, result.stdout + result.stderr
