"""TypeScript for analytics-next (browser) and analytics-node: one module, tracking_plan.ts.

It declares the small part of each SDK it calls as an interface, so it compiles without the
SDKs' types; an AnalyticsBrowser or a Node Analytics instance fits them (docs/codegen.md).
"""

from __future__ import annotations

import json
import math
import re

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
    paragraphs,
    service_rules,
)

FILE_NAME = "tracking_plan.ts"
# tsc reads a comment whose text starts with (slashes or stars and) @ts-... as a directive.
_AT_START = re.compile(r"^([\s/*]*)@")

_PRIMITIVES = {
    "string": "string",
    "number": "number",
    "integer": "number",
    "boolean": "boolean",
    "null": "null",
}

# The SDK surface, written once: structural types, so no Segment package is needed to compile.
_PRELUDE = """\
/** The part of analytics-next's AnalyticsBrowser (or Analytics) that this module calls. */
export interface BrowserAnalytics<R = unknown> {
  track(event: string, properties?: object, options?: object): R;
}

/** Options of a browser track call (analytics-next's Options: context, integrations, ...). */
export type BrowserTrackOptions = object;

/** Who a server-side event is about: a userId, an anonymousId, or both. */
export type NodeIdentity =
  | { userId: string; anonymousId?: string | undefined }
  | { userId?: string | undefined; anonymousId: string };

/** The other fields of an analytics-node track message. */
export type NodeTrackExtra = {
  context?: object | undefined;
  timestamp?: Date | string | undefined;
  integrations?: object | undefined;
  messageId?: string | undefined;
};

/** The message analytics-node's track takes. */
export type NodeTrackMessage = NodeIdentity &
  NodeTrackExtra & { event: string; properties?: object | undefined };

/** The part of analytics-node's Analytics that this module calls. */
export interface NodeAnalytics<R = unknown> {
  track(message: NodeTrackMessage): R;
}
"""


def render(model: TrackingModel) -> list[CodeFile]:
    """tracking_plan.ts for the model."""
    out: list[str] = [f"// {line}" for line in model.header_lines("typescript")]
    out += ["", *_doc(["The plan version this module was generated from (null: a draft)."])]
    version = "null" if model.plan_version is None else str(model.plan_version)
    out += [f"export const PLAN_VERSION: number | null = {version};", "", _PRELUDE]
    for definition in model.definitions:
        out += _definition(model, definition)
    out += _event_map(model)
    out += _browser_tracker(model)
    out += _node_tracker(model)
    return [CodeFile(FILE_NAME, "\n".join(out).rstrip("\n") + "\n")]


def ts_string(text: str) -> str:
    """A double-quoted TypeScript string literal of text; characters that are not printable
    (controls, line separators, lone surrogates) are written as \\u escapes."""
    return '"' + "".join(_escape(c) for c in text) + '"'


def _escape(char: str) -> str:
    if char in ('"', "\\"):
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    if code > 0xFFFF:  # a surrogate pair, as JavaScript strings are UTF-16
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def ts_type(node: TypeNode) -> str:
    if isinstance(node, Primitive):
        return _PRIMITIVES[node.kind]
    if isinstance(node, Const):
        return _const(node)
    if isinstance(node, ArrayOf):
        return f"ReadonlyArray<{ts_type(node.items)}>"  # mutable arrays fit too
    if isinstance(node, UnionOf):
        return " | ".join(dict.fromkeys(ts_type(v) for v in node.variants))
    if isinstance(node, Ref):
        return node.name
    if isinstance(node, AnyValue):
        return "unknown"
    raise TypeError(f"Unknown type node {node!r}")


def _const(node: Const) -> str:
    value = node.value
    if isinstance(value, float) and not math.isfinite(value):
        return "number"
    if isinstance(value, str):
        return ts_string(value)
    return json.dumps(value)


def _doc(lines: list[str], indent: str = "") -> list[str]:
    """A JSDoc comment of lines (already free of line breaks); */ inside is broken up, and an
    @ starting a line is escaped: "@ts-expect-error" there would be a compiler directive."""
    safe = [_AT_START.sub(r"\g<1>\\@", line.replace("*/", "*\\/")) for line in lines]
    if not safe:
        return []
    if len(safe) == 1:
        return [f"{indent}/** {safe[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in safe), f"{indent} */"]


def _mentions_integer(node: TypeNode) -> bool:
    if node == Primitive("integer"):
        return True
    if isinstance(node, ArrayOf):
        return _mentions_integer(node.items)
    if isinstance(node, UnionOf):
        return any(_mentions_integer(v) for v in node.variants)
    return False


def _property(prop: Property) -> list[str]:
    rules = list(prop.rules)
    if _mentions_integer(prop.type):
        rules.insert(0, "numbers are integers (TypeScript's number type cannot say so)")
    checked = service_rules(rules)
    doc = _doc(paragraphs(doc_lines(prop.description), [checked] if checked else []), "  ")
    optional = "" if prop.required else "?"
    return [*doc, f"  {ts_string(prop.wire_name)}{optional}: {ts_type(prop.type)};"]


def _definition(model: TrackingModel, definition: ObjectDef | EnumDef) -> list[str]:
    if isinstance(definition, EnumDef):
        values = " | ".join(ts_string(c.value) for c in definition.cases)
        doc = _doc(doc_lines(definition.description))
        members = [f"  {c.names.pascal}: {ts_string(c.value)}," for c in definition.cases]
        return [
            *doc,
            f"export type {definition.name} = {values};",
            *_doc([f"The values of {definition.name}, by name."]),
            f"export const {definition.name} = {{",
            *members,
            "} as const;",
            "",
        ]
    checked = service_rules(definition.rules)
    doc = _doc(paragraphs(doc_lines(definition.description), [checked] if checked else []))
    if not definition.properties:  # {} would accept any value but null and undefined
        record = "unknown" if definition.additional else "never"
        if definition.values is not None:  # a map: additionalProperties is a schema
            record = ts_type(definition.values)
        # An index signature rather than Record<>: a map may hold itself.
        return [*doc, f"export type {definition.name} = {{ [key: string]: {record} }};", ""]
    body = [line for prop in definition.properties for line in _property(prop)]
    return [*doc, f"export type {definition.name} = {{", *body, "};", ""]


def _event_map(model: TrackingModel) -> list[str]:
    pairs = [f"  {ts_string(e.name)}: {e.properties};" for e in model.events]
    names = [f"  {ts_string(e.name)}," for e in model.events]
    return [
        *_doc(["Each planned event's name, as sent, to the type of its properties."]),
        "export type PlanEvents = {",
        *pairs,
        "};",
        "",
        "/** The name of a planned event. */",
        "export type EventName = keyof PlanEvents;",
        "",
        "/** Every planned event's name, as sent. */",
        "export const EVENT_NAMES: readonly EventName[] = [",
        *names,
        "];",
        "",
    ]


def _event_doc(event: Event, model: TrackingModel) -> list[str]:
    checked = service_rules(model.object(event.properties).rules)
    return paragraphs(
        doc_lines(event.description),
        [f"Sends the event {ts_string(event.name)}."],
        [checked] if checked else [],
    )


def _browser_tracker(model: TrackingModel) -> list[str]:
    lines = [
        *_doc(["Typed track calls for analytics-next: new BrowserTracker(analytics)."]),
        "export class BrowserTracker<R = unknown> {",
        "  private readonly analytics: BrowserAnalytics<R>;",
        "",
        "  constructor(analytics: BrowserAnalytics<R>) {",
        "    this.analytics = analytics;",
        "  }",
        "",
        "  /** Any planned event by its name. */",
        "  track<E extends EventName>(",
        "    event: E,",
        "    properties: PlanEvents[E],",
        "    options?: BrowserTrackOptions,",
        "  ): R {",
        "    return this.analytics.track(event, properties, options);",
        "  }",
    ]
    for event in model.events:
        lines += [
            "",
            *_doc(_event_doc(event, model), "  "),
            f"  {event.names.camel}(",
            f"    properties: {event.properties},",
            "    options?: BrowserTrackOptions,",
            "  ): R {",
            f"    return this.analytics.track({ts_string(event.name)}, properties, options);",
            "  }",
        ]
    return [*lines, "}", ""]


def _node_tracker(model: TrackingModel) -> list[str]:
    lines = [
        *_doc(["Typed track calls for analytics-node: new NodeTracker(analytics)."]),
        "export class NodeTracker<R = unknown> {",
        "  private readonly analytics: NodeAnalytics<R>;",
        "",
        "  constructor(analytics: NodeAnalytics<R>) {",
        "    this.analytics = analytics;",
        "  }",
        "",
        "  /** Any planned event by its name. */",
        "  track<E extends EventName>(",
        "    identity: NodeIdentity,",
        "    event: E,",
        "    properties: PlanEvents[E],",
        "    extra?: NodeTrackExtra,",
        "  ): R {",
        "    return this.analytics.track({ ...extra, ...identity, event, properties });",
        "  }",
    ]
    for event in model.events:
        lines += [
            "",
            *_doc(_event_doc(event, model), "  "),
            f"  {event.names.camel}(",
            "    identity: NodeIdentity,",
            f"    properties: {event.properties},",
            "    extra?: NodeTrackExtra,",
            "  ): R {",
            "    return this.analytics.track({",
            "      ...extra,",
            "      ...identity,",
            f"      event: {ts_string(event.name)},",
            "      properties,",
            "    });",
            "  }",
        ]
    return [*lines, "}"]
