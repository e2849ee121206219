"""The per-name rows of a re-validation's `by_event`, merged batch by batch (pure, no database):
a name keeps 50 (rule, path) rows and counts the rest under ("*", "*"); examples stay the first
three met; a merge never changes the saved rows it was given."""

from __future__ import annotations

import copy

from app.services.jobs.impact import MAX_RULE_PATHS, EventTally, merged_by_event
from app.validation import Verdict

INVALID = Verdict("invalid", [{"rule": "type", "path": "/properties/x", "message": "m"}])


def tally(first_id: int, rules: list[tuple[str, str]]) -> EventTally:
    """One batch: an event of `signup` per (rule, path), each newly invalid and gaining it."""
    batch = EventTally()
    for offset, key in enumerate(rules):
        batch.add(first_id + offset, "signup", "valid", INVALID, {key}, set())
    return batch


def test_rules_past_the_bound_are_counted_under_a_star_and_examples_stay_the_first():
    keys = [("additionalProperties", f"/properties/p{i}") for i in range(MAX_RULE_PATHS + 10)]
    first = merged_by_event([], tally(1, keys[:1]))  # one example so far
    saved = copy.deepcopy(first)
    second = merged_by_event(first, tally(2, keys[1:] + keys[:5]))
    assert first == saved  # the saved result is left as it was

    [row] = second
    assert (row["events"], row["changed"], row["newly_invalid"]) == (65, 65, 65)
    rules = {(r["rule"], r["path"]): (r["gained"], r["lost"]) for r in row["rules"]}
    assert len(rules) == MAX_RULE_PATHS + 1
    assert rules["*", "*"] == (10, 0)  # the 10 met after the first 50
    assert all(rules[key] == (2, 0) for key in keys[:5])  # met twice, counted together
    assert [r["gained"] for r in row["rules"]][0] == 10  # the most frequent first
    assert [example["id"] for example in row["examples"]] == [1, 2, 3]
    assert row["examples"][0] == {
        "id": 1,
        "before": "valid",
        "after": "invalid",
        "violations": INVALID.violations,
    }
