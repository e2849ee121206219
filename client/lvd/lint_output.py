"""`lvd plan lint` output: for people, as JSON, or as GitHub annotations."""

from __future__ import annotations

import json
from typing import Any

from lvd.annotations import annotation
from lvd.source_map import SourceMap
from lvd.terminal import plural, printable


def with_lines(findings: list[dict[str, Any]], file: str, lines: SourceMap) -> list[dict]:
    """Each finding with the file and the line its JSON pointer lands on."""
    return [{**f, "file": file, "line": lines.line(f["path"])} for f in findings]


def render(answer: dict[str, Any], file: str, lines: SourceMap, fmt: str) -> str:
    """The lint answer of the service in format `fmt` (text, json, github)."""
    findings = with_lines(answer["findings"], file, lines)
    if fmt == "json":
        return json.dumps({**answer, "findings": findings}, indent=2, ensure_ascii=False)
    if fmt == "github":
        out = [
            annotation(f["severity"], f["message"], file=file, line=f["line"], title=f["rule"])
            for f in findings
        ]
        return "\n".join([*out, summary(answer)])
    out = [
        f"{printable(file)}:{f['line']}: {f['severity']} [{f['rule']}] {printable(f['message'])}"
        f"  ({printable(f['path'])})"
        for f in findings
    ]
    return "\n".join([*out, summary(answer)])


def summary(answer: dict[str, Any]) -> str:
    """ "1 error, 2 warnings (events: Object Action, properties: snake_case)"."""
    conventions = answer["conventions"]
    return (
        f"{plural(answer['errors'], 'error')}, {plural(answer['warnings'], 'warning')} "
        f"(event names: {printable(conventions['event_names'])}, "
        f"property names: {printable(conventions['property_names'])})"
    )
