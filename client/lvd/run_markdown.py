"""The Markdown summary of a run, for $GITHUB_STEP_SUMMARY or a pull-request comment."""

from __future__ import annotations

from lvd import markdown as md
from lvd.outcome import Outcome, violation_lines
from lvd.run_text import counts_line, pii_line

SHOWN_EVENTS = 50  # failing events in the summary; the report page has them all
ICONS = {"PASSED": "✅", "FAILED": "❌", "NOT SETTLED": "⏳"}


def render(outcome: Outcome) -> str:
    """Heading with the verdict, counts, a table of expectations, the failing events."""
    report = outcome.report
    out = [
        f"### {ICONS[outcome.verdict]} Test run {md.escape(report['test_run'])}: {outcome.verdict}",
        "",
    ]
    if not outcome.settled:
        out += [f"**Did not settle:** {outcome.pending_message()}.", ""]
    # The client's own words and numbers: nothing to escape.
    out += [counts_line(outcome) + ".", ""]
    pii = pii_line(outcome)
    if pii:
        out += [f"⚠️ {pii[0].upper()}{pii[1:]}.", ""]
    results = outcome.expectations
    if results:
        met = sum(1 for r in results if r["met"])
        out += [f"**Expectations:** {met} of {len(results)} met", ""]
        rows = [
            ["✅" if r["met"] else "❌", md.escape(r["title"]), md.escape(r["message"])]
            for r in results
        ]
        out += [*md.table(["", "Expectation", "Result"], rows), ""]
    failing = outcome.failing_events
    if failing:
        out += [f"**Failing events:** {len(failing)}", ""]
        rows = [
            [
                md.escape(event["event_name"]),
                str(event["id"]),
                md.escape(event["status"]),
                "<br>".join(md.escape(line) for line in violation_lines(event)),
            ]
            for event in failing[:SHOWN_EVENTS]
        ]
        out += md.table(["Event", "Id", "Status", "Violations"], rows)
        if len(failing) > SHOWN_EVENTS:
            out.append(f"\n… and {len(failing) - SHOWN_EVENTS} more.")
        out.append("")
    out.append(md.link("The run's report", outcome.url))
    return "\n".join(out) + "\n"
