"""`GET /metrics` of a real stack: traffic through gunicorn's two workers, events stored by a
real Celery worker, every process's counts added up in one scrape."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from app.extensions import db
from app.models import DeadLetter
from app.services.ingestion.event_stream import STREAM
from app.services.storage.dead_letters import record_dead_letter
from celery_config import QUEUES
from stack.servers import wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN, count_events
from tests.ops.prom import delta, file_samples, scrape, value
from tests.support.profiles import add_app

DEPTHS = (*QUEUES, STREAM)
REQUESTS = "lvd_http_requests_total"
SECONDS = "lvd_http_request_duration_seconds"
LATENCY = "lvd_accept_to_store_seconds"


def test_a_scrape_adds_up_both_gunicorn_workers_and_the_celery_worker(full_app, metered_stack):
    new = add_app(full_app, plan=DEMO_PLAN)
    url = f"{metered_stack.url}/api/logs/{new.app.write_key}"
    before = scrape(metered_stack.url)
    numbers = itertools.count()
    valid: list[dict] = []

    def post_valid_events() -> None:
        events = [{"eventName": "user_login", "userId": next(numbers)} for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda event: request("POST", url, event), events))
        assert all(status == 202 and body["status"] == "valid" for status, body in answers)
        valid.extend(events)

    def ingest_requests_of(pid: int) -> float:
        path = metered_stack.metrics_dir / f"counter_{pid}.db"
        if not path.exists():
            return 0
        return value(file_samples(path), REQUESTS, endpoint="ingest.log_event", status="202")

    def both_workers_served() -> bool:
        post_valid_events()
        return all(ingest_requests_of(pid) > 0 for pid in metered_stack.gunicorn_workers())

    # Concurrent requests spread over the workers; go on until each has served some.
    wait_until(both_workers_served, 30, "ingestion requests served by both gunicorn workers")
    assert len(metered_stack.gunicorn_workers()) == 2

    invalid = [{"eventName": "user_login", "userId": f"u{i}"} for i in range(6)]
    for event in invalid:
        assert request("POST", url, event)[1]["status"] == "invalid"
    for event in valid[:3]:
        assert request("POST", url, event)[1]["status"] == "duplicate"
    for _ in range(3):
        assert request("POST", url, raw=b'{"eventName": ')[0] == 400
    batch = [
        {"eventName": "screen_view", "screen_name": "s"},
        {"eventName": "user_login"},  # no userId
        {"eventName": "not_in_the_plan"},
        7,
    ]
    status, answer = request("POST", url + "/batch", {"events": batch})
    assert status == 202
    assert answer["counts"] == {
        "valid": 1,
        "invalid": 1,
        "unplanned": 1,
        "duplicate": 0,
        "rejected": 1,
    }
    stored = len(valid) + len(invalid) + 3
    wait_until(lambda: count_events(full_app) == stored, 30, f"{stored} stored events")

    # The worker observes each batch's latency just after its commit: await it, don't sleep.
    def settled() -> bool:
        after = scrape(metered_stack.url)
        return delta(after, before, f"{LATENCY}_count") >= stored and all(
            value(after, "lvd_queue_depth", queue=queue) == 0 for queue in DEPTHS
        )

    wait_until(settled, 30, "stored events observed and queues drained")
    after = scrape(metered_stack.url)

    single = {"endpoint": "ingest.log_event"}
    assert delta(after, before, REQUESTS, **single, status="202") == len(valid) + 9
    assert delta(after, before, REQUESTS, **single, status="400") == 3
    assert delta(after, before, REQUESTS, endpoint="ingest.log_batch", status="202") == 1
    assert delta(after, before, f"{SECONDS}_count", **single, status="202") == len(valid) + 9
    assert delta(after, before, f"{SECONDS}_count", **single, status="400") == 3
    # Latencies are plausible: all answered within 5 s, and each took some time.
    assert delta(after, before, f"{SECONDS}_bucket", **single, status="202", le="5.0") == (
        len(valid) + 9
    )
    assert 0 < delta(after, before, f"{SECONDS}_sum", **single, status="202") < 5 * len(valid)

    verdicts = {"valid": len(valid) + 1, "invalid": 7, "unplanned": 1, "duplicate": 3}
    for verdict, count in {**verdicts, "rejected": 1}.items():
        assert delta(after, before, "lvd_events_total", verdict=verdict) == count, verdict

    assert {q: value(after, "lvd_queue_depth", queue=q) for q in DEPTHS} == dict.fromkeys(DEPTHS, 0)
    assert ("lvd_queue_depth", (("queue", "default"),)) in after
    assert delta(after, before, f"{LATENCY}_count") == stored
    # Stored within 30 s of the answer, and not in no time at all.
    assert delta(after, before, f"{LATENCY}_bucket", le="30.0") == stored
    assert 0 < delta(after, before, f"{LATENCY}_sum") < 30 * stored
    for collector in ("queue_depth", "dead_letters"):
        assert value(after, "lvd_scrape_collector_success", collector=collector) == 1


def test_dead_letters_gauge_is_the_database_count(full_app, metered_stack):
    new = add_app(full_app, plan=DEMO_PLAN)
    assert value(scrape(metered_stack.url), "lvd_dead_letters_pending") == 0
    with full_app.app_context():
        for i in range(3):
            message = {"task_id": f"dead-{i}", "app_id": new.app.id, "event_name": "x"}
            record_dead_letter(f"dead-{i}", "app.tasks.events.process_events_async", message, "e")
        pending = db.session.scalar(
            select(func.count()).select_from(DeadLetter).where(DeadLetter.replayed_at.is_(None))
        )
        db.session.remove()
    assert pending == 3
    assert value(scrape(metered_stack.url), "lvd_dead_letters_pending") == pending


def test_a_failing_task_counts_as_a_task_failure(full_app, metered_stack):
    task = "app.tasks.events.process_events_async"
    before = scrape(metered_stack.url)
    # Missing its argument: the task raises TypeError in the worker's pool process.
    full_app.extensions["celery"].send_task(task, args=[])

    def counted() -> bool:
        after = scrape(metered_stack.url)
        return delta(after, before, "lvd_task_failures_total", task=task) == 1

    wait_until(counted, 30, "the task failure counted")
