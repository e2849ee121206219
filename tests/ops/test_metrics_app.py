"""`GET /metrics` of one process (micro, or a full-profile app with no worker running), and the
counting helpers behind it. Values here live in this process: tests compare before and after."""

from __future__ import annotations

from bisect import bisect_left

import orjson
from prometheus_client import Histogram

from app import metrics
from app.services.ingestion.event_stream import STREAM
from app.tasks.events import store_entries, store_messages
from app.validation.verdict import ANSWERS
from celery_config import QUEUES
from tests.helpers import DEMO_PLAN, count_events, queued_message
from tests.ops.prom import delta, names, scrape_client, value
from tests.support.profiles import add_app

LATENCY = "lvd_accept_to_store_seconds"


def test_queue_depths_count_what_waits_when_no_worker_runs(full_app):
    new = add_app(full_app, plan=DEMO_PLAN)
    client = full_app.test_client()
    idle = scrape_client(client)
    for queue in (*QUEUES, STREAM):
        assert value(idle, "lvd_queue_depth", queue=queue) == 0
    for i in range(3):
        response = client.post(f"/api/logs/{new.app.write_key}", json={"eventName": "e", "n": i})
        assert response.status_code == 202
    samples = scrape_client(client)
    assert value(samples, "lvd_queue_depth", queue=STREAM) == 3  # one entry per request
    assert value(samples, "lvd_queue_depth", queue="default") >= 1  # the drain task
    assert value(samples, "lvd_queue_depth", queue="emails") == 0


def test_micro_counts_its_broker_folder_and_verdicts(micro_app):
    new = add_app(micro_app, plan=DEMO_PLAN)
    client = micro_app.test_client()
    before = scrape_client(client)
    url = f"/api/logs/{new.app.write_key}"
    assert client.post(url, json={"eventName": "user_login", "userId": 1}).status_code == 202
    assert client.post(url, json={"eventName": "user_login", "userId": "x"}).status_code == 202
    assert client.post(url, json={"eventName": "user_login", "userId": 1}).status_code == 202
    assert client.post(url, json={"eventName": ""}).status_code == 400
    after = scrape_client(client)
    assert value(after, "lvd_queue_depth", queue="default") == 2  # a message per new event
    assert value(after, "lvd_queue_depth", queue="emails") == 0
    assert ("lvd_queue_depth", (("queue", STREAM),)) not in after  # micro has no stream
    expected = {"valid": 1, "invalid": 1, "unplanned": 0, "duplicate": 1, "rejected": 1}
    for verdict, count in expected.items():
        assert delta(after, before, "lvd_events_total", verdict=verdict) == count, verdict
    assert value(after, "lvd_dead_letters_pending") == 0


def test_requests_are_labelled_by_route_not_by_path(micro_app):
    client = micro_app.test_client()
    before = scrape_client(client)
    for i in range(5):
        assert client.post(f"/api/logs/secret-key-{i}", json={"eventName": "e"}).status_code == 401
    assert client.get("/no/such/page-123").status_code == 404
    after = scrape_client(client)
    requests = "lvd_http_requests_total"
    assert delta(after, before, requests, endpoint="ingest.log_event", status="401") == 5
    assert delta(after, before, requests, endpoint="unmatched", status="404") == 1
    assert not [labels for _, labels in after if "secret-key" in str(labels)]
    assert not [labels for _, labels in after if "page-123" in str(labels)]


def test_accept_to_store_counts_the_rows_the_insert_returned(full_app):
    """The rows PostgreSQL reports new, with their own received_at: never the payload's look-
    alike fields, and nothing for a redelivery."""
    new = add_app(full_app, plan=DEMO_PLAN)
    key = new.app.write_key
    client = full_app.test_client()
    tricky = [
        {"eventName": "e", "n": 1},
        # Look like message fields inside the client's payload: neither may be counted.
        {"eventName": "e", "received_at": "2000-01-01T00:00:00+00:00"},
        {"eventName": "e", "tasks": [{"task_id": "t-1"}, {"task_id": "t-2"}]},
    ]
    messages = [queued_message(full_app, key, raw) for raw in tricky]
    # As the admission script XADDs them: one entry per request.
    plain, old_time, task_ids = ("[" + orjson.dumps(m).decode() + "]" for m in messages)
    both = "[" + ",".join(orjson.dumps(m).decode() for m in messages[1:]) + "]"

    for entries, stored in (([plain, old_time], 2), ([plain, task_ids, both], 1), ([both], 0)):
        before = scrape_client(client)
        with full_app.app_context():
            store_entries([(f"{i}-0", entry.encode()) for i, entry in enumerate(entries)])
        after = scrape_client(client)
        assert delta(after, before, f"{LATENCY}_count") == stored
        assert 0 <= delta(after, before, f"{LATENCY}_sum") < max(1, stored) * 60  # not since 2000
    assert count_events(full_app) == 3


def test_events_stored_one_message_at_a_time_are_observed_once(micro_app):
    new = add_app(micro_app, plan=DEMO_PLAN)
    messages = [
        queued_message(micro_app, new.app.write_key, {"eventName": "e", "n": i}) for i in range(4)
    ]
    client = micro_app.test_client()
    before = scrape_client(client)
    with micro_app.app_context():
        store_messages(messages)
        store_messages(messages)  # a redelivery: nothing new stored
    after = scrape_client(client)
    assert count_events(micro_app) == 4
    assert delta(after, before, f"{LATENCY}_count") == 4


def test_a_histogram_filled_in_bulk_equals_one_filled_by_observe():
    bounds = metrics.ACCEPT_TO_STORE._upper_bounds[:-1]  # without +Inf, as buckets are given
    observed = [0.0, 0.05, 0.07, 0.3, 0.3, 0.3, 2, 7.5, 59.9, 4000]
    one_by_one = Histogram("one_by_one_seconds", "h", buckets=bounds, registry=None)
    for seconds in observed:
        one_by_one.observe(seconds)
    in_bulk = Histogram("in_bulk_seconds", "h", buckets=bounds, registry=None)
    per_bucket: dict[int, int] = {}
    for seconds in observed:
        index = bisect_left(in_bulk._upper_bounds, seconds)
        per_bucket[index] = per_bucket.get(index, 0) + 1
    metrics._observe_many(in_bulk, per_bucket, sum(observed))

    def samples(histogram: Histogram, name: str) -> list:
        (family,) = histogram.collect()
        return [(s.name.replace(name, ""), s.labels, s.value) for s in family.samples]

    assert samples(in_bulk, "in_bulk") == samples(one_by_one, "one_by_one")


def test_every_family_is_present_from_the_first_scrape(micro_app):
    samples = scrape_client(micro_app.test_client())
    for name in (
        "lvd_events_total",
        "lvd_accept_to_store_seconds_count",
        "lvd_queue_depth",
        "lvd_dead_letters_pending",
        "lvd_scrape_collector_success",
    ):
        assert name in names(samples), name
    for verdict in ANSWERS:
        assert ("lvd_events_total", (("verdict", verdict),)) in samples
