"""The run's personal-data findings in the `lvd run wait` outputs: a line in text and
Markdown, and in JUnit a property and a warning on system-out, never a failing case by
themselves (under the app's `fail` policy the events are invalid and fail as events)."""

from __future__ import annotations

from datetime import UTC, datetime

from lvd import junit, run_markdown, run_text
from lvd.outcome import Outcome

from tests.client.helpers import JUNIT_XSD, report

URL = "http://127.0.0.1:8080/apps/1/test-runs/report?name=checkout-42"
LINE = "personal data: 3 pii findings in 2 events (values shown masked)"


def with_pii(findings: int, events: int) -> dict:
    return {**report(), "pii": {"findings": findings, "events": events}}


def test_text_and_markdown_say_how_many_findings():
    text = run_text.render_text(Outcome(with_pii(3, 2), URL, 1.0))
    assert f"  {LINE}" in text.splitlines()
    summary = run_markdown.render(Outcome(with_pii(3, 2), URL, 1.0))
    assert "⚠️ Personal data: 3 pii findings in 2 events (values shown masked)." in summary


def test_no_findings_and_an_older_service_print_nothing():
    for data in (with_pii(0, 0), report()):
        assert "personal data" not in run_text.render_text(Outcome(data, URL, 1.0))
        assert "Personal data" not in run_markdown.render(Outcome(data, URL, 1.0))


def test_junit_warns_without_failing():
    document = junit.render(Outcome(with_pii(3, 2), URL, 1.0), datetime(2026, 12, 5, tzinfo=UTC))
    JUNIT_XSD.validate(document.decode())
    text = document.decode()
    assert f"<system-out>warning: {LINE}</system-out>" in text
    assert '<property name="pii_findings" value="3" />' in text
    assert 'failures="0"' in text and "<failure" not in text
