"""`lvd run wait` against the full profile (gunicorn, Redis, PostgreSQL) whose Celery worker
is not running: the run's events are accepted and stay queued. Without a worker the wait ends
at --timeout with exit 2; a worker started while the wait is held lets it end with the verdict."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from stack.servers import start_worker
from tests.client.helpers import JUNIT_XSD
from tests.client.live import get, lvd, lvd_command, send, write_json
from tests.helpers import DEMO_PLAN
from tests.services.jobs.helpers import draft_plan, raw_event, rejudged, shaped
from tests.support.profiles import add_app, full_env

EVENTS = [
    {"eventName": "purchase", "price": 9.5, "currency": "EUR"},
    {"eventName": "purchase", "price": 1.0, "currency": "eur"},  # invalid: pattern
]


def test_a_run_that_never_settles_hits_the_timeout(full_app, gunicorn_url, tmp_path):
    new = add_app(full_app, "ci", DEMO_PLAN)
    send(gunicorn_url, new.app.write_key, "stuck", EVENTS)
    junit = tmp_path / "lvd.xml"
    done = lvd(
        "run",
        "wait",
        "stuck",
        "--timeout",
        "2",
        "--junit",
        str(junit),
        url=gunicorn_url,
        key=new.read_key,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "2 of 2 accepted events still pending after 2 s" in done.stderr
    assert done.stdout.splitlines()[:2] == [
        "Test run stuck: NOT SETTLED",
        "  did not settle: 2 of 2 accepted events still pending after 2 s",
    ]
    JUNIT_XSD.validate(str(junit))
    failure = ET.parse(junit).getroot().find("testcase[@classname='settlement']/failure")
    assert failure.get("type") == "not_settled"


def test_the_wait_ends_when_a_late_worker_stores_the_events(
    full_app, gunicorn_url, service_root, redis_server, postgres_server, tmp_path
):
    new = add_app(full_app, "ci", DEMO_PLAN)
    send(gunicorn_url, new.app.write_key, "late", EVENTS)
    waiting = lvd_command(
        "run", "wait", "late", "--timeout", "120", url=gunicorn_url, key=new.read_key
    )
    log = tmp_path / "worker.log"
    log.touch()
    report = get(gunicorn_url, new.read_key, "/api/test-runs?name=late")
    assert report["settlement"]["pending"] == 2  # nothing stored: no worker yet
    assert waiting.poll() is None  # lvd still waiting
    worker = start_worker(full_env(service_root, redis_server, postgres_server), log, "all", 1)
    try:
        out, err = waiting.communicate(timeout=120)
    finally:
        worker.stop()
    assert waiting.returncode == 1, out + err  # stored now, and one of them is invalid
    assert out.splitlines()[0] == "Test run late: FAILED"
    assert "2 events stored (valid 1, invalid 1, unplanned 0)" in out


def test_impact_equals_a_direct_rejudgement_of_the_same_stored_events(
    full_app, gunicorn_url, service_root, redis_server, postgres_server, tmp_path
):
    """`lvd plan diff --impact`, through the API and a real worker, against the draft judged
    here event by event (revalidation.stored_verdict on the rows PostgreSQL holds)."""
    new = add_app(full_app, "ci", DEMO_PLAN)
    # A mix of every verdict and of every change the draft makes (tests/services/jobs).
    send(gunicorn_url, new.app.write_key, "impact", [raw_event(i) for i in range(60)])
    log = tmp_path / "worker.log"
    worker = start_worker(full_env(service_root, redis_server, postgres_server), log, "all", 1)
    try:
        stored = lvd("run", "wait", "impact", url=gunicorn_url, key=new.read_key)
        assert stored.returncode in (0, 1), stored.stdout + stored.stderr  # settled
        path = write_json(tmp_path / "draft.json", draft_plan())
        done = lvd(
            "plan", "diff", path, "--impact", "1", "--format", "json", "--fail-on", "never",
            url=gunicorn_url, key=new.read_key,
        )  # fmt: skip
    finally:
        worker.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    job = json.loads(done.stdout)["impact"]
    assert job["state"] == "done"
    expected = rejudged(full_app, new.app.id, draft_plan(), 0)
    assert shaped(job["result"]["by_event"]) == expected
    # Every stored event was judged (identical payloads among the 60 were stored once).
    assert job["done"] == sum(e["counts"]["events"] for e in expected.values()) > 40
    assert {"user_login", "screen_view", "search", "purchase"} <= set(expected)
