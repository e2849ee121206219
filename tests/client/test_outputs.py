"""Text, JSON and GitHub outputs of lint, diff (with impact) and run wait, from answers in the
contract's shapes; and the files the commands read."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from lvd import diff_output, junit, lint_output, run_text
from lvd.documents import DocumentError, read_expectations, read_plan
from lvd.outcome import Outcome
from lvd.source_map import SourceMap

from tests.client.helpers import HOSTILE, event, failing_purchase_report, report, violation

PLAN = """{
  "events": {
    "order completed": {
      "properties": {"Price": {"type": "number"}}
    }
  }
}
"""
LINT = {
    "findings": [
        {
            "severity": "error",
            "rule": "event-name-case",
            "path": "/events/order completed",
            "event": "order completed",
            "property": None,
            "message": "order completed is not Object Action",
        },
        {
            "severity": "warning",
            "rule": "missing-description",
            "path": "/events/order completed/properties/Price",
            "event": "order completed",
            "property": "Price",
            "message": "Price has no description",
        },
    ],
    "errors": 1,
    "warnings": 1,
    "conventions": {"event_names": "Object Action", "property_names": "snake_case"},
}
DIFF = {
    "against_version": 4,
    "changes": [
        {
            "kind": "breaking",
            "rule": "event-removed",
            "path": "/events/Signup",
            "event": "Signup",
            "property": None,
            "message": "Signup was removed",
            "before": {},
            "after": None,
        },
        {
            "kind": "additive",
            "rule": "property-added",
            "path": "/events/order completed/properties/Price",
            "event": "order completed",
            "property": "Price",
            "message": "Price is new, optional",
            "before": None,
            "after": {"type": "number"},
        },
    ],
    "breaking": 1,
    "additive": 1,
}
JOB = {
    "id": 12,
    "state": "done",
    "params": {"since": "2026-11-27T21:00:00Z"},
    "result": {
        "newly_invalid": 5,
        "newly_valid": 0,
        "newly_unplanned": 2,
        "by_event": [
            {
                "event_name": "Signup",
                "events": 2,
                "changed": 2,
                "newly_invalid": 0,
                "newly_valid": 0,
                "newly_unplanned": 2,
                "rules": [{"rule": "unplanned", "path": "/event", "gained": 2, "lost": 0}],
                "examples": [{"id": 31, "before": "valid", "after": "unplanned", "violations": []}],
            },
            {
                "event_name": "order completed",
                "events": 120,
                "changed": 5,
                "newly_invalid": 5,
                "newly_valid": 0,
                "newly_unplanned": 0,
                "rules": [{"rule": "type", "path": "/properties/Price", "gained": 5, "lost": 0}],
                "examples": [
                    {
                        "id": 40,
                        "before": "valid",
                        "after": "invalid",
                        "violations": [violation("/properties/Price", "Price must be a number")],
                    }
                ],
            },
            {
                "event_name": None,
                "events": 9,
                "changed": 0,
                "newly_invalid": 0,
                "newly_valid": 0,
                "newly_unplanned": 0,
                "rules": [],
                "examples": [],
            },
        ],
    },
}


def test_lint_text_names_file_line_rule_and_pointer():
    text = lint_output.render(LINT, "plan.json", SourceMap(PLAN), "text")
    assert text.splitlines() == [
        "plan.json:3: error [event-name-case] order completed is not Object Action"
        "  (/events/order completed)",
        "plan.json:4: warning [missing-description] Price has no description"
        "  (/events/order completed/properties/Price)",
        "1 error, 1 warning (event names: Object Action, property names: snake_case)",
    ]


def test_lint_github_annotations_carry_the_line():
    lines = lint_output.render(LINT, "plans/app.json", SourceMap(PLAN), "github").splitlines()
    assert lines[0] == (
        "::error file=plans/app.json,line=3,title=event-name-case"
        "::order completed is not Object Action"
    )
    assert lines[1].startswith("::warning file=plans/app.json,line=4,title=missing-description::")


def test_lint_json_adds_file_and_line():
    document = json.loads(lint_output.render(LINT, "p.json", SourceMap(PLAN), "json"))
    assert [(f["file"], f["line"]) for f in document["findings"]] == [("p.json", 3), ("p.json", 4)]
    assert document["errors"] == 1


def test_diff_text_classifies_each_change_and_lands_removed_events_on_their_parent():
    text = diff_output.render(DIFF, "plan.json", SourceMap(PLAN), "text", "breaking")
    assert text.splitlines() == [
        "Changes against version 4:",
        "plan.json:2: breaking [event-removed] Signup: Signup was removed",
        "plan.json:4: additive [property-added] order completed.Price: Price is new, optional",
        "1 breaking, 1 additive (against version 4)",
    ]


@pytest.mark.parametrize(
    ("fail_on", "levels"),
    [
        ("breaking", ["error", "notice"]),
        ("any", ["error", "error"]),
        ("never", ["warning", "notice"]),
    ],
)
def test_diff_github_levels_follow_fail_on(fail_on, levels):
    lines = diff_output.render(DIFF, "p.json", SourceMap(PLAN), "github", fail_on).splitlines()
    assert [line[2 : line.index(" ")] for line in lines[:2]] == levels
    assert "title=breaking%3A event-removed::" in lines[0]


def test_diff_markdown_table_and_impact():
    text = diff_output.render(DIFF, "p.json", SourceMap(PLAN), "markdown", "breaking", JOB)
    assert text.startswith("### ❌ Plan diff of p\\.json: 1 breaking, 1 additive")
    assert "| **breaking** | event\\-removed | Signup |   | Signup was removed | 2 |" in text
    assert (
        "| Signup | 2 | 2 | 0 | 0 | 2 | unplanned \\/event: +2 −0 | #31 valid → unplanned |" in text
    )
    assert "(other event names)" not in text  # nothing of it changed


def test_diff_text_with_impact_counts_per_event_name_with_examples():
    text = diff_output.render(DIFF, "p.json", SourceMap(PLAN), "text", "breaking", JOB)
    tail = text.splitlines()[4:]
    assert tail == [
        "Impact on 131 stored events since 2026-11-27T21:00:00Z (job 12): 5 newly invalid, "
        "0 newly valid, 2 newly unplanned",
        "  Signup: 2 of 2 events would change (0 newly invalid, 0 newly valid, 2 newly unplanned)",
        "      unplanned /event: +2 -0",
        "      e.g. event #31 valid → unplanned",
        "  order completed: 5 of 120 events would change (5 newly invalid, 0 newly valid, "
        "0 newly unplanned)",
        "      type /properties/Price: +5 -0",
        "      e.g. event #40 valid → invalid: /properties/Price: Price must be a number",
    ]


def test_diff_json_includes_lines_and_the_impact_job():
    document = json.loads(diff_output.render(DIFF, "p.json", SourceMap(PLAN), "json", "any", JOB))
    assert [c["line"] for c in document["changes"]] == [2, 4]
    assert document["impact"]["result"]["newly_invalid"] == 5


def test_run_text_shows_verdict_expectations_events_and_the_report():
    data = failing_purchase_report()
    text = run_text.render_text(Outcome(data, "http://x/r", 1.0))
    assert text.splitlines() == [
        "Test run checkout-42: FAILED",
        "  3 events stored (valid 2, invalid 1, unplanned 0); 0 blocked, 0 dead-lettered, "
        "0 pending of 3 accepted",
        "  expectations: 1 of 2 met",
        "    [met]     purchase appears: seen 1 time",
        "    [NOT MET] no invalid event: 1 invalid event",
        "  failing events (1):",
        "    #7 purchase (invalid)",
        "        /properties/price: price must be a number",
        "  report: http://x/r",
    ]


def test_run_text_escapes_control_characters_of_hostile_names():
    data = report(run=HOSTILE, failures=[event(1, HOSTILE, "unplanned", None)])
    text = run_text.render_text(Outcome(data, "http://x/r", 1.0))
    assert "\x1b" not in text and "\x01" not in text
    assert "\\x1b[31m @admins\\n::error ::boom" in text
    assert not any(line.startswith("::") for line in text.splitlines())


def test_run_json_has_verdict_and_exit_code():
    document = json.loads(run_text.render_json(Outcome(report(accepted=4, pending=1), "u", 9.0)))
    assert (document["verdict"], document["exit_code"]) == ("NOT SETTLED", 2)
    assert document["report"]["settlement"]["pending"] == 1


def test_a_plan_file_that_is_not_json_is_an_error_at_its_line(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text('{\n  "events": {\n    "a": ,\n  }\n}\n')
    with pytest.raises(DocumentError) as caught:
        read_plan(str(path))
    assert caught.value.line == 3
    assert str(caught.value).startswith(f"{path}:3: not valid JSON")


def test_expectations_from_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "e.yaml"
    yaml_file.write_text(
        "expect:\n  - event: Order Completed\n    min: 1\n    properties:\n"
        "      currency: {const: EUR}\nforbid: [Debug Event]\nallow_invalid: false\n"
    )
    json_file = tmp_path / "e.json"
    json_file.write_text(json.dumps(read_expectations(str(yaml_file))))
    assert read_expectations(str(json_file)) == {
        "expect": [
            {"event": "Order Completed", "min": 1, "properties": {"currency": {"const": "EUR"}}}
        ],
        "forbid": ["Debug Event"],
        "allow_invalid": False,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a\n- b\n", "expectations are a mapping"),
        ("expect: [\n", "not valid YAML"),
        ("expect:\n  - event: a\n    max: 2026-12-04\n", "has no JSON form"),
    ],
)
def test_bad_expectation_files(tmp_path, text, message):
    path = tmp_path / "e.yaml"
    path.write_text(text)
    with pytest.raises(DocumentError, match=message):
        read_expectations(str(path))


def test_a_closed_run_says_so_and_counts_the_events_that_came_later():
    data = {
        **report(),
        "closed_at": "2026-12-04T22:45:08.053369Z",
        "late": {"count": 2, "events": []},
    }
    line = run_text.render_text(Outcome(data, "http://x/r", 1.0)).splitlines()[1]
    assert line.endswith(
        "; closed 2026-12-04T22:45:08.053369Z, 2 later events stored but not judged"
    )
    on_time = {**data, "late": {"count": 0, "events": []}}
    assert run_text.counts_line(Outcome(on_time, "http://x/r", 1.0)).endswith(
        "accepted; closed 2026-12-04T22:45:08.053369Z"
    )


def test_the_junit_report_of_a_closed_run_counts_its_late_events(tmp_path):
    data = {**report(), "closed_at": "2026-12-04T22:45:08Z", "late": {"count": 2, "events": []}}
    xml = junit.render(Outcome(data, "http://x/r", 1.0))
    root = ET.fromstring(xml)
    values = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (values["closed_at"], values["late_events"]) == ("2026-12-04T22:45:08Z", "2")
