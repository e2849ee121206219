"""The generated code without compilers: examples, literals, doc comments, and the generated
Python run against the real segment-analytics-python Client (send=False: nothing leaves)."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from segment.analytics.client import Client

from app.codegen import build_model, generate
from app.codegen.python import function_name, py_string
from app.codegen.typescript import ts_string
from app.validation import VALID, compile_plan
from tests.codegen.helpers import PLAN_FILES, load_examples, load_plan, write_generated

HOSTILE = [
    "",
    'a"b',
    "back\\slash",
    "new\nline\r\n",
    "*/ /* \"\"\" '''",
    "ü😀\U000e0001",
    "\ud800",
    "\u2028\u2029\x00\x7f\u200b",
    "${x}`",
]


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_every_event_has_a_valid_example(plan_name):
    plan = load_plan(plan_name)
    examples = load_examples()[plan_name]
    assert sorted(examples) == sorted(plan["events"])
    compiled = compile_plan(plan, 1)
    for event, properties in examples.items():
        verdict = compiled.validate(event, properties)
        assert (verdict.status, verdict.violations) == (VALID, []), event


@pytest.mark.parametrize("text", HOSTILE)
def test_string_literals_are_exact(text):
    assert eval(py_string(text)) == text  # noqa: S307 (a literal the generator wrote)
    # A JavaScript string literal with only these escapes reads as JSON does.
    assert json.loads(ts_string(text)) == text
    for literal in (py_string(text), ts_string(text)):
        assert literal.isprintable(), literal


def _doc_comments(source: str) -> list[str]:
    return re.findall(r"/\*\*(.*?)\*/", source, flags=re.S)


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_typescript_doc_comments_end_where_they_should(plan_name):
    (file,) = generate(load_plan(plan_name), "typescript", plan_version=1)
    for comment in _doc_comments(file.content):
        # The comment ends at the first */: what follows it must be code, never comment text.
        assert "*/" not in comment
    for line in file.content.splitlines():
        stripped = line.strip()
        if stripped.startswith("/**") and not stripped.endswith("*/"):
            continue
        if stripped.startswith("* ") or stripped == "*":
            assert "*/" not in stripped, line
    described = load_plan(plan_name)["events"]
    texts = "\n".join(_doc_comments(file.content))
    for schema in described.values():
        if "description" in schema:  # each description appears, its */ broken up
            first = schema["description"].splitlines()[0].replace("*/", "*\\/")
            assert first in texts


def _load_module(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # typing resolves the TypedDicts' forward references here
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_generated_python_keeps_every_wire_name_and_description(plan_name, tmp_path):
    path = write_generated(plan_name, "python", tmp_path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    model = build_model(load_plan(plan_name), plan_version=7)
    typed_dicts = {
        node.targets[0].id: [ast.literal_eval(k) for k in node.value.args[1].keys]
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Call)
        and ast.unparse(node.value.func) == "typing.TypedDict"
    }
    for definition in model.definitions:
        if hasattr(definition, "properties") and definition.properties:
            assert typed_dicts[definition.name] == [p.wire_name for p in definition.properties]
    functions = {n.name: ast.get_docstring(n) for n in tree.body if isinstance(n, ast.FunctionDef)}
    for event in model.events:
        doc = functions[function_name(event)]
        assert f"Sends the event {py_string(event.name)}." in doc
        if event.description:
            assert event.description.splitlines()[0] in doc


@pytest.mark.parametrize("plan_name", sorted(PLAN_FILES))
def test_generated_python_sends_each_example_through_the_real_client(plan_name, tmp_path):
    path = write_generated(plan_name, "python", tmp_path)
    module = _load_module(path, f"tracking_plan_{tmp_path.name}")
    model = build_model(load_plan(plan_name), plan_version=7)
    examples = load_examples()[plan_name]
    assert module.PLAN_VERSION == 7
    assert list(module.EVENT_NAMES) == sorted(examples)
    client = Client("write-key", send=False)  # _enqueue returns the message it would send
    for event in model.events:
        properties = examples[event.name]
        send = getattr(module, function_name(event))
        queued, message = send(client, properties, user_id="u1", context={"app": "x"})
        assert queued and message["event"] == event.name
        assert (message["properties"], message["userId"]) == (properties, "u1")
        assert message["context"]["app"] == "x"
        _, message = module.track(client, event.name, properties, anonymous_id="a1")
        assert (message["event"], message["properties"]) == (event.name, properties)
        assert message["anonymousId"] == "a1"


# Any string, lone surrogates and controls included: names are data.
NAMES = st.text(min_size=1, max_size=12).filter(str.strip)


@settings(max_examples=60, deadline=None)
@given(events=st.dictionaries(NAMES, st.lists(st.text(max_size=8), max_size=4), max_size=5))
def test_any_names_give_valid_python_with_exact_keys(events):
    plan = {
        "events": {
            name: {"type": "object", "properties": {p: {"type": "string"} for p in props}}
            for name, props in events.items()
        }
    }
    (file,) = generate(plan, "python", plan_version=1)
    file.content.encode("utf-8")  # writable as UTF-8: nothing unencodable escaped the literals
    tree = ast.parse(file.content)
    model = build_model(plan, plan_version=1)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert {function_name(e) for e in model.events} <= functions
    assert len(functions) == len(model.events) + (1 if model.events else 0)
    literals = {
        ast.literal_eval(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    for name, props in events.items():
        assert name in literals and set(props) <= literals
