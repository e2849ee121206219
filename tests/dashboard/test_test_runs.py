"""Test-run reports: the same pass/fail summary as a page (for people with access to the app)
and as JSON with the read key (for CI); the list of an app's runs; identical violations shown
once with their count."""

from __future__ import annotations

import html
import re
from urllib.parse import quote

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp, User
from app.services.apps import create_app_record
from app.services.statistics.run_expectations import set_expectations
from app.services.storage.events import store_events
from tests.dashboard.helpers import sign_up_and_verify
from tests.helpers import DEMO_PLAN, queued_message


@pytest.fixture
def shop(micro_app):
    with micro_app.app_context():
        new = create_app_record("Shop", DEMO_PLAN)
        app_id, key, read_key = new.app.id, new.app.write_key, new.read_key
    events = {
        "run-1": [
            {"eventName": "user_login", "userId": 1},
            {"eventName": "user_login", "userId": 2},
            {"eventName": "user_login", "userId": "three"},
            {"eventName": "checkout_started"},
        ],
        "run-2": [{"eventName": "screen_view", "screen_name": "home"}],
    }
    messages = [
        queued_message(micro_app, key, {**raw, "context": {"testRun": run}})
        for run, raws in events.items()
        for raw in raws
    ]
    with micro_app.app_context():
        store_events(messages)
    return app_id, read_key


def test_the_report_counts_statuses_and_lists_the_violations(micro_app, shop):
    app_id, read_key = shop
    client = micro_app.test_client()
    auth = {"Authorization": f"Bearer {read_key}"}
    report = client.get("/api/test-runs/run-1", headers=auth).json
    assert report["passed"] is False
    assert report["total"] == 4
    assert report["counts"] == {"valid": 2, "invalid": 1, "unplanned": 1}
    assert [(f["event_name"], f["status"]) for f in report["failures"]] == [
        ("user_login", "invalid"),
        ("checkout_started", "unplanned"),
    ]
    assert report["failures"][0]["errors"][0]["path"] == "/properties/userId"
    passed = client.get("/api/test-runs/run-2", headers=auth).json
    assert (passed["passed"], passed["counts"]["valid"]) == (True, 1)
    missing = client.get("/api/test-runs/run-9", headers=auth)
    assert missing.status_code == 404 and missing.json["code"] == "not_found"
    assert client.get("/api/test-runs/run-1").status_code == 401


def test_the_report_page_shows_the_same_summary_to_the_owner(micro_app, shop):
    app_id, _ = shop
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "qa@example.com")
    with micro_app.app_context():
        user = db.session.scalars(select(User).where(User.email == "qa@example.com")).one()
        db.session.get(TrackedApp, app_id).owner_id = user.id
        db.session.commit()
    page = client.get(f"/apps/{app_id}/test-runs/run-1").get_data(as_text=True)
    assert 'id="verdict">\n  FAILED' in page
    assert 'data-status="invalid">1<' in page and 'data-status="valid">2<' in page
    assert "/properties/userId" in page
    assert "PASSED" in client.get(f"/apps/{app_id}/test-runs/run-2").get_data(as_text=True)
    assert client.get(f"/apps/{app_id}/test-runs/run-9").status_code == 404


def _owner(micro_app, app_id: int):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "runs@example.com")
    with micro_app.app_context():
        user = db.session.scalars(select(User).where(User.email == "runs@example.com")).one()
        db.session.get(TrackedApp, app_id).owner_id = user.id
        db.session.commit()
    return client


def test_the_run_list_page_links_every_run_with_its_status_and_counts(micro_app, shop):
    app_id, _ = shop
    client = _owner(micro_app, app_id)
    nav = client.get(f"/apps/{app_id}/overview").get_data(as_text=True)
    assert f'<a href="/apps/{app_id}/test-runs">Test runs</a>' in nav
    page = client.get(f"/apps/{app_id}/test-runs").get_data(as_text=True)
    rows = re.findall(
        r"<tr><td[^>]*><a href=\"([^\"]+)\"[^>]*><code[^>]*>([^<]+)</code>.*?</tr>", page, re.S
    )
    assert [(link, name) for link, name in rows] == [
        (f"/apps/{app_id}/test-runs/report?name=run-2", "run-2"),  # stored last: most recent
        (f"/apps/{app_id}/test-runs/report?name=run-1", "run-1"),
    ]
    cells = [
        [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr><td[^>]*><a .*?</tr>", page, re.S)
    ]
    assert [c[:6] for c in cells] == [
        ["run-2", "PASSED", "1", "1", "0", "0"],
        ["run-1", "FAILED", "4", "2", "1", "1"],
    ]
    assert 'id="older-runs"' not in page
    empty = client.get(f"/apps/{app_id}/test-runs?cursor=bogus")  # a mangled link: page one
    assert empty.status_code == 200 and "run-2" in empty.get_data(as_text=True)


def test_the_report_page_shows_each_violation_once_with_its_count(micro_app, shop):
    app_id, _ = shop
    with micro_app.app_context():
        key = db.session.get(TrackedApp, app_id).write_key
    raws = [{"eventName": "user_login", "userId": f"u{n}"} for n in range(6)]
    messages = [
        queued_message(micro_app, key, {**raw, "context": {"testRun": "run-3"}}) for raw in raws
    ]
    with micro_app.app_context():
        store_events(messages)
    client = _owner(micro_app, app_id)
    page = client.get(f"/apps/{app_id}/test-runs/run-3").get_data(as_text=True)
    groups = re.findall(r'<tbody class="group">(.*?)</tbody>', page, re.S)
    assert len(groups) == 1
    assert (
        '<td class="count">6×</td><td class="event"><span class="cut" title="user_login">'
        in groups[0]
    )
    assert groups[0].count("<details>") == 3  # three examples of six
    assert "/properties/userId" in groups[0] and '"userId": "u0"' in groups[0]


# Names a path cannot carry as they are: "." and ".." are resolved by browsers (even as %2e%2e),
# "/" and "?" split the path, "%" and "#" would be read as an escape or a fragment.
ODD_RUNS = ["..", ".", "../../../operations", "a/b", "50% off?x=1#y", "build 7/α"]


def test_runs_with_dots_slashes_and_escapes_are_linked_and_reached_by_name(micro_app):
    with micro_app.app_context():
        new = create_app_record("Odd", DEMO_PLAN)
        app_id, key, read_key = new.app.id, new.app.write_key, new.read_key
        store_events(
            [
                queued_message(
                    micro_app,
                    key,
                    {"eventName": "user_login", "userId": 1, "context": {"testRun": run}},
                )
                for run in ODD_RUNS
            ]
        )
    client = _owner(micro_app, app_id)
    page = client.get(f"/apps/{app_id}/test-runs").get_data(as_text=True)
    links = dict(
        (html.unescape(name), link)
        for link, name in re.findall(r"<a href=\"([^\"]+)\"[^>]*><code[^>]*>([^<]+)</code>", page)
    )
    assert set(links) == set(ODD_RUNS)
    for run, link in links.items():
        # Every character of the name is escaped: nothing a browser could resolve or split.
        assert link == f"/apps/{app_id}/test-runs/report?name=" + quote(run, safe=""), link
        report = client.get(link)
        assert report.status_code == 200, (run, link)
        text = report.get_data(as_text=True)
        assert f">{html.escape(run, quote=False)}</code> · Odd</h1>" in text
        assert f"GET /api/test-runs?name={quote(run, safe='')}</code>" in text
        answer = client.get(
            f"/api/test-runs?name={quote(run, safe='')}",
            headers={"Authorization": f"Bearer {read_key}"},
        )
        assert (answer.status_code, answer.json["test_run"]) == (200, run)
    # The path form still receives the decoded name (%2F is decoded before routing).
    assert client.get(f"/apps/{app_id}/test-runs/a%2Fb").status_code == 200
    assert client.get(f"/apps/{app_id}/test-runs/report").status_code == 404
    missing = client.get("/api/test-runs", headers={"Authorization": f"Bearer {read_key}"})
    assert (missing.status_code, missing.json["code"]) == (400, "invalid_parameter")


def test_a_run_known_only_by_its_expectations_has_a_page(micro_app, shop):
    app_id, _ = shop
    with micro_app.app_context():
        set_expectations(app_id, "run-early", {"expect": ["purchase"]})
    client = _owner(micro_app, app_id)
    page = client.get(f"/apps/{app_id}/test-runs/run-early").get_data(as_text=True)
    assert 'id="verdict">\n  FAILED' in page and "First event" not in page
    assert re.search(r'data-id="present:purchase">\s*<span class="badge unmet">not met', page)
    assert "purchase appears at least once" in page and "seen 0 times" in page
    assert 'id="run-state">Open' in page
    # A run without expectations says how it is judged instead.
    plain = client.get(f"/apps/{app_id}/test-runs/run-2").get_data(as_text=True)
    assert 'id="no-expectations"' in plain and 'id="expectations"' not in plain
