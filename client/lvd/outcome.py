"""What `lvd run wait` ends with: the run's report, whether it settled, and the exit code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PASSED, FAILED, UNSETTLED = 0, 1, 2  # the exit codes of `lvd run wait`


@dataclass(frozen=True)
class Outcome:
    """The last report of a run and how long the client waited for it."""

    report: dict[str, Any]
    url: str
    waited: float  # seconds

    @property
    def settlement(self) -> dict[str, Any]:
        return self.report["settlement"]

    @property
    def settled(self) -> bool:
        return bool(self.settlement["settled"])

    @property
    def exit_code(self) -> int:
        if not self.settled:
            return UNSETTLED
        return PASSED if self.report["passed"] else FAILED

    @property
    def verdict(self) -> str:
        return "NOT SETTLED" if not self.settled else str(self.report["status"])

    @property
    def expectations(self) -> list[dict[str, Any]]:
        """The expectation results (none when the run has no expectations)."""
        return self.report["expectations"]["results"]

    @property
    def failing_events(self) -> list[dict[str, Any]]:
        """The invalid and unplanned events the report lists that fail the run: all of them
        without expectations; with expectations, those of a status whose expectation ("no
        invalid event", "no unplanned event") is not met (allow_invalid lets them pass)."""
        if self.report["expectations"]["met"] is None:
            return self.report["failures"]
        failing = {r["kind"] for r in self.expectations if not r["met"]}
        return [e for e in self.report["failures"] if e["status"] in failing]

    def pending_message(self) -> str:
        """ "3 of 10 accepted events still pending after 300 s"."""
        s = self.settlement
        return (
            f"{s['pending']} of {s['accepted']} accepted events still pending "
            f"after {self.waited:.0f} s"
        )


def violation_lines(event: dict[str, Any]) -> list[str]:
    """One line per violation of a failing event ("path: message")."""
    lines = []
    for violation in event["errors"] or ():  # null for an event without violations
        path, message = violation["path"], violation["message"]
        lines.append(f"{path}: {message}" if path else message)
    if not lines and event["status"] == "unplanned":
        lines.append("the plan has no such event")
    return lines
