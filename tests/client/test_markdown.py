"""The Markdown summary of a run and the escaping of user strings in it (GitHub renders it in
a step summary or a pull-request comment)."""

from __future__ import annotations

from lvd import markdown as md
from lvd import run_markdown
from lvd.outcome import Outcome

from tests.client.helpers import HOSTILE, event, failing_purchase_report, report, result, violation

URL = "http://127.0.0.1:8080/apps/1/test-runs/report?name=a%20%28b%29"


def _table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def _cells(row: str) -> list[str]:
    """The cells of a table row as GitHub splits them: at every "|" not escaped by "\\"."""
    cells, cell, escaped = [], "", False
    for char in row.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append(cell)
            cell = ""
        else:
            cell += char
        escaped = char == "\\" and not escaped
    return [c.strip() for c in [*cells, cell]]


def test_escape_neutralises_table_html_links_mentions_and_lines():
    assert md.escape("a|b") == "a\\|b"
    assert md.escape("<img src=x onerror=alert(1)>") == (
        "&lt;img src\\=x onerror\\=alert\\(1\\)&gt;"
    )
    assert md.escape("[click](javascript:alert(1))") == (
        "\\[click\\]\\(javascript\\:alert\\(1\\)\\)"
    )
    assert md.escape("ping @octocat") == "ping @&#8203;octocat"
    assert md.escape("*bold* _em_ `code` ~~s~~ # h") == (
        "\\*bold\\* \\_em\\_ \\`code\\` \\~\\~s\\~\\~ \\# h"
    )
    assert md.escape("one\ntwo\r\nthree") == "one<br>two<br>three"
    assert md.escape("&amp;") == "&amp;amp\\;"  # shown as typed, not as "&"
    assert md.escape("nul\x00") == "nul\ufffd"


def test_a_failing_run_lists_expectations_and_failing_events():
    data = failing_purchase_report()
    text = run_markdown.render(Outcome(data, URL, 2.0))
    assert text.startswith("### ❌ Test run checkout\\-42: FAILED\n")
    assert "**Expectations:** 1 of 2 met" in text
    rows = _table_rows(text)
    assert _cells(rows[2]) == ["✅", "purchase appears", "seen 1 time"]
    assert _cells(rows[3]) == ["❌", "no invalid event", "1 invalid event"]
    assert _cells(rows[6]) == [
        "purchase",
        "7",
        "invalid",
        "\\/properties\\/price\\: price must be a number",
    ]
    assert text.rstrip().endswith(f"[The run\\'s report]({URL})")


def test_a_passing_run_without_expectations():
    text = run_markdown.render(Outcome(report(), URL, 1.0))
    assert text.startswith("### ✅ Test run checkout\\-42: PASSED\n")
    assert "Expectations" not in text and "Failing events" not in text


def test_a_run_that_did_not_settle_says_how_many_are_pending():
    text = run_markdown.render(Outcome(report(accepted=8, pending=5), URL, 30))
    assert text.startswith("### ⏳ Test run checkout\\-42: NOT SETTLED\n")
    assert "5 of 8 accepted events still pending after 30 s" in text


def test_a_hostile_event_name_cannot_break_the_table():
    bad = event(5, HOSTILE, "invalid", [violation("/x", HOSTILE)])
    data = report(
        run=HOSTILE,
        results=[
            result("present", HOSTILE, False, HOSTILE),
            result("invalid", "no invalid event", False, "1", [bad]),
        ],
        failures=[bad],
    )
    text = run_markdown.render(Outcome(data, URL, 1.0))
    rows = _table_rows(text)
    expectation_rows = rows[: rows.index("|---|---|---|---|") - 1]
    assert [len(_cells(row)) for row in expectation_rows] == [3, 3, 3, 3]
    assert [len(_cells(row)) for row in rows[len(expectation_rows) :]] == [4, 4, 4]
    # No raw HTML, no live mention, and line for line the shape of a benign run's summary.
    assert "<script>" not in text and "@admins" not in text
    benign = run_markdown.render(Outcome(_renamed(data, "plain"), URL, 1.0))
    assert [line[:1] for line in text.splitlines()] == [line[:1] for line in benign.splitlines()]


def _renamed(data: dict, name: str) -> dict:
    """The same report with every user string replaced by `name`."""
    failing = [
        {**e, "event_name": name, "errors": [violation("/x", name)]} for e in data["failures"]
    ]
    results = [{**r, "title": name, "message": name} for r in data["expectations"]["results"]]
    return {
        **data,
        "test_run": name,
        "failures": failing,
        "expectations": {**data["expectations"], "results": results},
    }
