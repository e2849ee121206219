"""A re-validation's impact per event name (the result's `by_event`): how many events of each
name were judged, how many changed status and how, which (rule, path) violations they gained or
lost, and a few of the events that changed.

Bounded so that an app sending random names cannot grow a job's result (saved after every
batch) without limit: the first MAX_EVENT_NAMES names met, in event id order, get a row each;
the events of every later name are summed in one row whose event_name is None. A row keeps
MAX_RULE_PATHS (rule, path) pairs (the rest under ("*", "*")) and MAX_EXAMPLES examples of
MAX_EXAMPLE_VIOLATIONS violations each. Batches are merged in id order, so a job resumed from
its cursor reports the same as one that ran in one go.
"""

from __future__ import annotations

from typing import Any

from app.validation import Verdict

MAX_EVENT_NAMES = 200
MAX_RULE_PATHS = 50
MAX_EXAMPLES = 3
MAX_EXAMPLE_VIOLATIONS = 10
OTHER_RULE = ("*", "*")
COUNTS = ("events", "changed", "newly_invalid", "newly_valid", "newly_unplanned")


def _empty_row(event_name: str | None) -> dict[str, Any]:
    return {"event_name": event_name, **dict.fromkeys(COUNTS, 0), "rules": [], "examples": []}


class EventTally:
    """The per-name counts of one batch, before they are merged into a result."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}  # name → row, rules as {(rule, path): [g, l]}

    def add(
        self,
        event_id: int,
        event_name: str,
        before: str,
        verdict: Verdict,
        gained: set[tuple[str, str]],
        lost: set[tuple[str, str]],
    ) -> None:
        """Count one judged event: its stored status, its new verdict and the (rule, path)
        pairs it gained and lost."""
        row = self.rows.get(event_name)
        if row is None:
            row = self.rows[event_name] = {**_empty_row(event_name), "rules": {}}
        row["events"] += 1
        if verdict.status != before:
            row["changed"] += 1
            row[f"newly_{verdict.status}"] += 1
            if len(row["examples"]) < MAX_EXAMPLES:
                row["examples"].append(_example(event_id, before, verdict))
        for key in gained:
            row["rules"].setdefault(key, [0, 0])[0] += 1
        for key in lost:
            row["rules"].setdefault(key, [0, 0])[1] += 1


def _example(event_id: int, before: str, verdict: Verdict) -> dict[str, Any]:
    violations = [dict(v) for v in verdict.violations[:MAX_EXAMPLE_VIOLATIONS]]
    return {"id": event_id, "before": before, "after": verdict.status, "violations": violations}


def merged_by_event(saved: list[dict[str, Any]], batch: EventTally) -> list[dict[str, Any]]:
    """The saved `by_event` rows plus one batch's (new rows: the saved ones stay as they were).

    A name gets its own row while fewer than MAX_EVENT_NAMES names have one; otherwise its
    counts go to the row of event_name None.
    """
    table = {row["event_name"]: _open(row) for row in saved}
    named = sum(1 for name in table if name is not None)
    for name, counts in batch.rows.items():
        if name not in table and named >= MAX_EVENT_NAMES:
            name = None
        if name not in table:
            table[name] = _open(_empty_row(name))
            named += name is not None
        _add(table[name], counts)
    rows = [_closed(row) for row in table.values()]
    # Most changed first; the summed rest last.
    rows.sort(key=lambda r: (r["event_name"] is None, -r["changed"], -r["events"], r["event_name"]))
    return rows


def _open(row: dict[str, Any]) -> dict[str, Any]:
    """A saved row with its rules as a table to add to."""
    rules = {(r["rule"], r["path"]): [r["gained"], r["lost"]] for r in row["rules"]}
    return {**row, "rules": rules, "examples": list(row["examples"])}


def _add(row: dict[str, Any], counts: dict[str, Any]) -> None:
    for key in COUNTS:
        row[key] += counts[key]
    for key, (gained, lost) in counts["rules"].items():
        if key not in row["rules"] and len(row["rules"]) >= MAX_RULE_PATHS:
            key = OTHER_RULE
        totals = row["rules"].setdefault(key, [0, 0])
        totals[0] += gained
        totals[1] += lost
    row["examples"].extend(counts["examples"][: MAX_EXAMPLES - len(row["examples"])])


def _closed(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the result keeps it: rules as a list, the most frequent first."""
    rules = sorted(row["rules"].items(), key=lambda item: (-(item[1][0] + item[1][1]), item[0]))
    listed = [{"rule": r, "path": p, "gained": g, "lost": lo} for (r, p), (g, lo) in rules]
    return {**row, "rules": listed}
