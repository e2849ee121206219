"""JUnit XML of a run: one <testsuite>, one <testcase> per expectation and per failing event,
as Jenkins, GitLab, GitHub test reporters and others read it (the Jenkins xUnit plugin's
junit-10.xsd is what the tests validate it against)."""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from lvd.outcome import Outcome, violation_lines
from lvd.run_text import counts_line, pii_line

# Characters XML 1.0 cannot hold at all (not even as &#…;): replaced, so that any event name or
# message still gives a well-formed file.
_NOT_XML = re.compile(r"[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(text: object) -> str:
    """`text` with the characters XML 1.0 forbids replaced by U+FFFD."""
    return _NOT_XML.sub("\N{REPLACEMENT CHARACTER}", str(text))


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=xml_text(classname), name=xml_text(name))


def _fail(case: ET.Element, message: str, kind: str, details: str) -> None:
    failure = ET.SubElement(case, "failure", message=xml_text(message), type=xml_text(kind))
    failure.text = xml_text(details)


def render(outcome: Outcome, now: datetime | None = None) -> bytes:
    """The JUnit XML document (UTF-8) of the run."""
    report = outcome.report
    run = str(report["test_run"])
    suite = ET.Element(
        "testsuite",
        name=xml_text(f"lvd run {run}"),
        timestamp=(now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S"),
        hostname=xml_text(socket.gethostname()),
        time=f"{outcome.waited:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("run", run),
        ("url", outcome.url),
        ("status", outcome.verdict),
        ("closed_at", report["closed_at"] or ""),
        # Events that came after closing: stored, not judged (the counts line says so too).
        ("late_events", str((report["late"] or {}).get("count", 0))),
        # Personal data found: a warning, not a failure (under the app's `fail` policy the
        # events are invalid, so they fail as failing events).
        ("pii_findings", str((report.get("pii") or {}).get("findings", 0))),
    ):
        ET.SubElement(properties, "property", name=name, value=xml_text(value))

    # Always one case for settling, so a run with nothing to check still shows as a test.
    case = _case(suite, "settlement", "every accepted event settled")
    if not outcome.settled:
        _fail(case, outcome.pending_message(), "not_settled", counts_line(outcome))
    blocked = outcome.settlement["blocked"]
    if blocked:
        case = _case(suite, "settlement", "no event was blocked")
        message = f"{blocked} events were blocked (never stored)"
        _fail(case, message, "blocked", counts_line(outcome))

    for result in outcome.expectations:
        case = _case(suite, "expectations", result["title"])
        if not result["met"]:
            ids = ", ".join(f"#{e['id']} {e['event_name']}" for e in result["events"])
            details = result["message"] + (f"\noffending events: {ids}" if ids else "")
            _fail(case, result["message"], result["kind"], details)

    for event in outcome.failing_events:
        case = _case(suite, event["event_name"], f"event #{event['id']} ({event['status']})")
        lines = violation_lines(event)
        _fail(case, lines[0] if lines else event["status"], event["status"], "\n".join(lines))

    pii = pii_line(outcome)
    if pii:
        ET.SubElement(suite, "system-out").text = xml_text(f"warning: {pii}")

    cases = suite.findall("testcase")
    suite.set("tests", str(len(cases)))
    suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"
