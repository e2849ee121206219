"""Python for segment-analytics-python: one module, tracking_plan.py (TypedDicts, Literals).

Property types are TypedDicts in the functional form, so any property name stays an exact key;
the client is a Protocol of the one method called, as the SDK ships no type hints
(docs/codegen.md).
"""

from __future__ import annotations

from .model import (
    AnyValue,
    ArrayOf,
    CodeFile,
    Const,
    EnumDef,
    Event,
    ObjectDef,
    Primitive,
    Property,
    Ref,
    TrackingModel,
    TypeNode,
    UnionOf,
    doc_lines,
    one_line,
    paragraphs,
    service_rules,
)

FILE_NAME = "tracking_plan.py"

_PRIMITIVES = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool",
    "null": "None",
}

_PRELUDE = '''\
import datetime
import typing

_R = typing.TypeVar("_R")
_R_co = typing.TypeVar("_R_co", covariant=True)


class SegmentClient(typing.Protocol[_R_co]):
    """The method of segment-analytics-python's Client that this module calls.

    segment.analytics.client.Client fits, and so does the segment.analytics module.
    """

    def track(
        self,
        user_id: str | None = ...,
        event: str | None = ...,
        properties: typing.Any = ...,
        context: dict[str, typing.Any] | None = ...,
        timestamp: datetime.datetime | None = ...,
        anonymous_id: str | None = ...,
        integrations: dict[str, typing.Any] | None = ...,
        message_id: str | None = ...,
    ) -> _R_co: ...


class TrackOptions(typing.TypedDict, total=False):
    """The other arguments of Client.track: user_id or anonymous_id is required by the SDK."""

    user_id: str | None
    anonymous_id: str | None
    context: dict[str, typing.Any] | None
    timestamp: datetime.datetime | None
    integrations: dict[str, typing.Any] | None
    message_id: str | None
'''


def render(model: TrackingModel) -> list[CodeFile]:
    """tracking_plan.py for the model."""
    # The header names the app, and Python reads an encoding from a "coding: ..." comment on
    # the first two lines: declaring UTF-8 first means an app name cannot pick another.
    out = ["# -*- coding: utf-8 -*-"]
    out += [f"# {line}" for line in model.header_lines("python")]
    out += ['"""Typed track calls of a tracking plan, for segment-analytics-python."""', ""]
    out += [_PRELUDE, ""]
    version = "None" if model.plan_version is None else str(model.plan_version)
    out += [
        f"PLAN_VERSION: typing.Final[int | None] = {version}",
        '"""The plan version this module was generated from (None: a draft)."""',
        "",
    ]
    defined: set[str] = set()
    for definition in model.definitions:
        out += _definition(definition, defined)
        defined.add(definition.name)
    names = "".join(f"    {py_string(e.name)},\n" for e in model.events)
    out += [f"EVENT_NAMES: typing.Final[tuple[str, ...]] = (\n{names})", "", ""]
    out += _generic_track(model)
    for event in model.events:
        out += _event_function(model, event)
    return [CodeFile(FILE_NAME, "\n".join(out).rstrip("\n") + "\n")]


def py_string(text: str) -> str:
    """A double-quoted Python string literal of text; what a source file should not hold
    (controls, lone surrogates, line separators) is escaped as repr escapes it."""
    return '"' + "".join(_escape(c) for c in text) + '"'


def _escape(char: str) -> str:
    if char in ('"', "\\"):
        return "\\" + char
    return char if char.isprintable() else repr(char)[1:-1]


def py_type(node: TypeNode) -> str:
    if isinstance(node, Primitive):
        return _PRIMITIVES[node.kind]
    if isinstance(node, Const):
        return _const(node)
    if isinstance(node, ArrayOf):
        return f"list[{py_type(node.items)}]"
    if isinstance(node, UnionOf):
        literals = [_literal_value(v) for v in node.variants]
        parts = [py_type(v) for v, lit in zip(node.variants, literals, strict=True) if lit is None]
        values = [lit for lit in literals if lit is not None]
        if values:  # one Literal[...] of every literal member
            parts.insert(0, f"typing.Literal[{', '.join(values)}]")
        return " | ".join(dict.fromkeys(parts))
    if isinstance(node, Ref):
        return node.name
    if isinstance(node, AnyValue):
        return "object"
    raise TypeError(f"Unknown type node {node!r}")


def _const(node: Const) -> str:
    value = _literal_value(node)
    if value is not None:
        return f"typing.Literal[{value}]"
    return "None" if node.value is None else "float"  # Literal cannot hold floats


def _literal_value(node: TypeNode) -> str | None:
    """What Literal[...] holds for a Const of a str, int or bool, else None."""
    if not isinstance(node, Const) or node.value is None or isinstance(node.value, float):
        return None
    return py_string(node.value) if isinstance(node.value, str) else repr(node.value)


def _float_consts(node: TypeNode) -> list[str]:
    """Rules for the float constants in node, which Literal cannot hold."""
    if isinstance(node, Const) and isinstance(node.value, float):
        return [f"equals {node.value!r}"]
    if isinstance(node, ArrayOf):
        return [f"each item: {rule}" for rule in _float_consts(node.items)]
    if isinstance(node, UnionOf):
        return [rule for v in node.variants for rule in _float_consts(v)]
    return []


def _refs(node: TypeNode) -> set[str]:
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, ArrayOf):
        return _refs(node.items)
    if isinstance(node, UnionOf):
        return set().union(*(_refs(v) for v in node.variants))
    return set()


def _comment(lines: list[str], indent: str = "") -> list[str]:
    """Comment lines of plan text, as "#: text": a description such as "type: int" or
    "mypy: ignore-errors" must not read as a type comment or a mypy directive."""
    return [f"{indent}#: {line}".rstrip() for line in lines]


def _docstring(lines: list[str], indent: str) -> list[str]:
    """A docstring of lines; backslashes and quotes are escaped so none can end it early."""
    safe = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    if not safe:
        return []
    if len(safe) == 1:
        return [f'{indent}"""{safe[0]}"""']
    body = [f"{indent}{line}".rstrip() for line in safe[1:]]
    return [f'{indent}"""{safe[0]}', *body, f'{indent}"""']


def _property(prop: Property, defined: set[str]) -> list[str]:
    checked = service_rules([*prop.rules, *_float_consts(prop.type)])
    doc = paragraphs(doc_lines(prop.description), [checked] if checked else [])
    value = py_type(prop.type)
    if not prop.required:
        value = f"typing.NotRequired[{value}]"
    if _refs(prop.type) - defined:  # a recursive type: refer to it before it is defined
        value = py_string(value)
    return [*_comment(doc, "        "), f"        {py_string(prop.wire_name)}: {value},"]


def _definition(definition: ObjectDef | EnumDef, defined: set[str]) -> list[str]:
    if isinstance(definition, EnumDef):
        values = ", ".join(py_string(c.value) for c in definition.cases)
        return [
            *_comment(doc_lines(definition.description)),
            f"{definition.name}: typing.TypeAlias = typing.Literal[{values}]",
            "",
        ]
    checked = service_rules(definition.rules)
    doc = paragraphs(doc_lines(definition.description), [checked] if checked else [])
    if not definition.properties and definition.additional:  # an empty TypedDict takes no key
        values = "typing.Any" if definition.values is None else py_type(definition.values)
        alias = f"dict[str, {values}]"
        if definition.values is not None and _refs(definition.values) - defined:
            alias = py_string(alias)  # a recursive type: refer to it before it is defined
        return [*_comment(doc), f"{definition.name}: typing.TypeAlias = {alias}", ""]
    body = [line for prop in definition.properties for line in _property(prop, defined)]
    return [
        *_comment(doc),
        f"{definition.name} = typing.TypedDict(",
        f"    {py_string(definition.name)},",
        "    {",
        *body,
        "    },",
        ")",
        "",
    ]


def function_name(event: Event) -> str:
    """The module-level function that sends event: track_ and its snake_case name."""
    return "track_" + event.names.snake.strip("_")


def _event_function(model: TrackingModel, event: Event) -> list[str]:
    checked = service_rules(model.object(event.properties).rules)
    doc = paragraphs(
        doc_lines(event.description),
        [f"Sends the event {one_line(py_string(event.name))}."],
        [checked] if checked else [],
    )
    return [
        "",
        f"def {function_name(event)}(",
        "    client: SegmentClient[_R],",
        f"    properties: {event.properties},",
        "    **options: typing.Unpack[TrackOptions],",
        ") -> _R:",
        *_docstring(doc, "    "),
        f"    return client.track(event={py_string(event.name)}, properties=properties, **options)",
        "",
    ]


def _generic_track(model: TrackingModel) -> list[str]:
    """track(client, event, properties, ...) for any planned event, typed by overloads."""
    if not model.events:
        return []
    signature = [
        "    client: SegmentClient[_R],",
        "    event: {event},",
        "    properties: {properties},",
        "    **options: typing.Unpack[TrackOptions],",
        ") -> _R:",
    ]
    lines: list[str] = []
    if len(model.events) > 1:
        for event in model.events:
            literal = f"typing.Literal[{py_string(event.name)}]"
            lines += ["@typing.overload", "def track("]
            lines += [s.format(event=literal, properties=event.properties) for s in signature][:-1]
            lines += [") -> _R: ...", "", ""]
        event_type, properties_type = "str", "typing.Any"
    else:
        event_type = f"typing.Literal[{py_string(model.events[0].name)}]"
        properties_type = model.events[0].properties
    lines += ["def track("]
    lines += [s.format(event=event_type, properties=properties_type) for s in signature]
    lines += [
        '    """Sends any planned event by its name."""',
        "    return client.track(event=event, properties=properties, **options)",
        "",
    ]
    return lines
