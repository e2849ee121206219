"""`lvd plan diff` output: the changes against a saved version (text, JSON, Markdown, GitHub
annotations), and the impact of the draft on stored events."""

from __future__ import annotations

import json
from typing import Any

from lvd import markdown as md
from lvd.annotations import annotation
from lvd.source_map import SourceMap
from lvd.terminal import plural, printable

OTHERS = "(other event names)"  # the impact's bucket of event names past its limit


def _against(answer: dict[str, Any]) -> str:
    version = answer["against_version"]
    if version is None:
        return "no published version (every event is new)"
    return f"version {version}"


def _subject(change: dict[str, Any]) -> str:
    parts = [p for p in (change["event"], change["property"]) if p is not None]
    return ".".join(str(p) for p in parts) or change["path"]


def render(
    answer: dict[str, Any],
    file: str,
    lines: SourceMap,
    fmt: str,
    fail_on: str,
    impact: dict[str, Any] | None = None,
) -> str:
    """The diff answer (and the impact job, when asked) in format `fmt`."""
    changes = [{**c, "file": file, "line": lines.line(c["path"])} for c in answer["changes"]]
    if fmt == "json":
        document = {**answer, "changes": changes}
        if impact is not None:
            document["impact"] = impact
        return json.dumps(document, indent=2, ensure_ascii=False)
    if fmt == "markdown":
        return "\n".join(_markdown(answer, changes, file, impact))
    if fmt == "github":
        out = [_annotation(c, file, fail_on) for c in changes]
    else:
        out = [f"Changes against {_against(answer)}:"] if changes else []
        out += [
            f"{printable(file)}:{c['line']}: {c['kind']} [{c['rule']}] "
            f"{printable(_subject(c))}: {printable(c['message'])}"
            for c in changes
        ]
    out.append(summary(answer))
    if impact is not None:
        out += impact_text(impact)
    return "\n".join(out)


def summary(answer: dict[str, Any]) -> str:
    return (
        f"{answer['breaking']} breaking, {answer['additive']} additive (against {_against(answer)})"
    )


def _annotation(change: dict[str, Any], file: str, fail_on: str) -> str:
    failing = fail_on == "any" or (fail_on == "breaking" and change["kind"] == "breaking")
    level = "error" if failing else "warning" if change["kind"] == "breaking" else "notice"
    title = f"{change['kind']}: {change['rule']}"
    return annotation(level, change["message"], file=file, line=change["line"], title=title)


def _name(entry: dict[str, Any]) -> str:
    return OTHERS if entry["event_name"] is None else str(entry["event_name"])


def _violation_text(violation: dict[str, Any]) -> str:
    return f"{violation['path']}: {violation['message']}"


def impact_text(job: dict[str, Any]) -> list[str]:
    """Per event name: how many stored events would change verdict, by rule, with examples."""
    result = job["result"]
    since = job["params"]["since"]
    by_event = [e for e in result["by_event"] if e["changed"]]
    judged = sum(e["events"] for e in result["by_event"])
    out = [
        f"Impact on {plural(judged, 'stored event')} since {since} (job {job['id']}): "
        f"{result['newly_invalid']} newly invalid, {result['newly_valid']} newly valid, "
        f"{result['newly_unplanned']} newly unplanned"
    ]
    if not by_event:
        out.append("  no stored event would change its verdict")
    for entry in by_event:
        out.append(
            f"  {printable(_name(entry))}: {entry['changed']} of "
            f"{plural(entry['events'], 'event')} would change ({entry['newly_invalid']} newly "
            f"invalid, {entry['newly_valid']} newly valid, "
            f"{entry['newly_unplanned']} newly unplanned)"
        )
        for rule in entry["rules"]:
            out.append(
                f"      {printable(rule['rule'])} {printable(rule['path'])}: "
                f"+{rule['gained']} -{rule['lost']}"
            )
        for example in entry["examples"]:
            first = example["violations"][0] if example["violations"] else None
            detail = f": {printable(_violation_text(first))}" if first else ""
            out.append(
                f"      e.g. event #{example['id']} {example['before']} → {example['after']}"
                f"{detail}"
            )
    return out


def _markdown(
    answer: dict[str, Any], changes: list[dict], file: str, impact: dict[str, Any] | None
) -> list[str]:
    icon = "❌" if answer["breaking"] else "✅"
    out = [
        f"### {icon} Plan diff of {md.escape(file)}: {summary(answer)}",
        "",
    ]
    if changes:
        rows = [
            [
                "**breaking**" if c["kind"] == "breaking" else "additive",
                md.escape(c["rule"]),
                md.escape(c["event"] if c["event"] is not None else ""),
                md.escape(c["property"] if c["property"] is not None else ""),
                md.escape(c["message"]),
                str(c["line"]),
            ]
            for c in changes
        ]
        out += md.table(["Kind", "Rule", "Event", "Property", "Change", "Line"], rows)
    else:
        out.append("No changes.")
    if impact is not None:
        out += ["", *_impact_markdown(impact)]
    return out


def _impact_markdown(job: dict[str, Any]) -> list[str]:
    result = job["result"]
    out = [f"#### Impact on stored events since {md.escape(job['params']['since'])}", ""]
    rows = []
    for entry in result["by_event"]:
        if not entry["changed"]:
            continue
        rules = "<br>".join(
            f"{md.escape(r['rule'])} {md.escape(r['path'])}: +{r['gained']} −{r['lost']}"
            for r in entry["rules"]
        )
        examples = "<br>".join(
            f"#{e['id']} {md.escape(e['before'])} → {md.escape(e['after'])}"
            for e in entry["examples"]
        )
        rows.append(
            [
                md.escape(_name(entry)),
                str(entry["events"]),
                str(entry["changed"]),
                str(entry["newly_invalid"]),
                str(entry["newly_valid"]),
                str(entry["newly_unplanned"]),
                rules,
                examples,
            ]
        )
    if not rows:
        return [*out, "No stored event would change its verdict."]
    header = ["Event", "Events", "Changed", "Newly invalid", "Newly valid", "Newly unplanned"]
    return out + md.table([*header, "Rules", "Examples"], rows)
