"""`lvd run wait` output for people (text) and for programs (JSON)."""

from __future__ import annotations

import json

from lvd.outcome import Outcome, violation_lines
from lvd.terminal import plural, printable

SHOWN_EVENTS = 20  # failing events printed in text; the JUnit and JSON outputs have all


def counts_line(outcome: Outcome) -> str:
    report, s = outcome.report, outcome.settlement
    counts = report["counts"]
    line = (
        f"{plural(report['total'], 'event')} stored (valid {counts['valid']}, invalid "
        f"{counts['invalid']}, unplanned {counts['unplanned']}); {s['blocked']} blocked, "
        f"{s['dead_lettered']} dead-lettered, {s['pending']} pending of {s['accepted']} accepted"
    )
    if report["closed_at"]:
        # A closed run is judged on what came before closing; later events are only listed.
        late = (report["late"] or {}).get("count", 0)
        line += f"; closed {report['closed_at']}"
        if late:
            line += f", {plural(late, 'later event')} stored but not judged"
    return line


def pii_line(outcome: Outcome) -> str | None:
    """The personal data the service found in the run's values, when it found any (a
    service without PII detection sends no `pii`): warnings, unless the app's PII policy made
    those events invalid, and then they are among the failing events."""
    pii = outcome.report.get("pii") or {}
    if not pii.get("findings"):
        return None
    return (
        f"personal data: {plural(pii['findings'], 'pii finding')} in "
        f"{plural(pii['events'], 'event')} (values shown masked)"
    )


def render_text(outcome: Outcome) -> str:
    """The verdict, counts, expectations and failing events, then the report's address."""
    out = [f"Test run {printable(outcome.report['test_run'])}: {outcome.verdict}"]
    if not outcome.settled:
        out.append(f"  did not settle: {outcome.pending_message()}")
    out.append(f"  {counts_line(outcome)}")
    pii = pii_line(outcome)
    if pii:
        out.append(f"  {pii}")
    results = outcome.expectations
    if results:
        met = sum(1 for r in results if r["met"])
        out.append(f"  expectations: {met} of {len(results)} met")
        for r in results:
            mark = "[met]    " if r["met"] else "[NOT MET]"
            out.append(f"    {mark} {printable(r['title'])}: {printable(r['message'])}")
    else:
        out.append("  expectations: none (the run fails on any invalid or unplanned event)")
    failing = outcome.failing_events
    if failing:
        out.append(f"  failing events ({len(failing)}):")
        for event in failing[:SHOWN_EVENTS]:
            out.append(f"    #{event['id']} {printable(event['event_name'])} ({event['status']})")
            out += [f"        {printable(line)}" for line in violation_lines(event)]
        if len(failing) > SHOWN_EVENTS:
            out.append(f"    … and {len(failing) - SHOWN_EVENTS} more (see the report)")
    out.append(f"  report: {outcome.url}")
    return "\n".join(out)


def render_json(outcome: Outcome) -> str:
    """The service's report with the client's verdict, exit code and the report's address."""
    document = {
        "verdict": outcome.verdict,
        "exit_code": outcome.exit_code,
        "waited_seconds": round(outcome.waited, 1),
        "url": outcome.url,
        "report": outcome.report,
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
