"""The real `segment-analytics-python` client pointed at a live server (gunicorn → Redis → a
Celery worker → PostgreSQL): every call arrives, is stored once, carries its verdict."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from segment.analytics import Client
from sqlalchemy import select

from app.extensions import db
from app.models import Event
from stack.servers import wait_until
from tests.e2e.http import request
from tests.helpers import SDK_PLAN, count_events
from tests.support.profiles import add_app


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_every_call_of_the_real_sdk_is_stored_once_with_its_verdict(
    full_app, gunicorn_url, celery_worker, use_gzip
):
    shop = add_app(full_app, plan=SDK_PLAN)
    errors: list[Exception] = []
    client = Client(
        shop.app.write_key,
        host=gunicorn_url,
        gzip=use_gzip,
        on_error=lambda error, batch: errors.append(error),
        max_retries=2,
    )
    run = str(uuid.uuid4())
    context = {"testRun": run, "app": {"version": "2.3.1"}}
    ids = {
        "track": client.track("u1", "Order Completed", {"revenue": 12.5}, context=context)[1],
        "bad_track": client.track("u1", "Order Completed", {"revenue": "12"}, context=context)[1],
        "identify": client.identify("u1", {"email": "u1@example.com"}, context=context)[1],
        "screen": client.screen("u1", name="Home", properties={"tab": "feed"}, context=context)[1],
        "page": client.page("u1", name="Pricing", properties={"path": "/pricing"}, context=context)[
            1
        ],
        "group": client.group("u1", "g1", {"plan": "pro"}, context=context)[1],
        "alias": client.alias("anon-1", "u1", context=context)[1],
    }
    client.flush()
    client.join()
    assert errors == []

    wait_until(lambda: count_events(full_app, test_run=run) == len(ids), 30, "all SDK events")
    with full_app.app_context():
        rows = {e.message_id: e for e in db.session.scalars(select(Event))}
    expected = {
        "track": ("track", "Order Completed", "valid"),
        "bad_track": ("track", "Order Completed", "invalid"),
        "identify": ("identify", "identify", "valid"),
        "screen": ("screen", "Home", "valid"),
        "page": ("page", "Pricing", "valid"),
        "group": ("group", "group", "valid"),
        "alias": ("alias", "alias", "valid"),
    }
    for call, message in ids.items():
        row = rows[message["messageId"]]
        assert (row.type, row.event_name, row.status) == expected[call], call
        assert row.app_version == "2.3.1"
        assert row.library_name == "analytics-python"
    assert rows[ids["bad_track"]["messageId"]].violations[0]["path"] == "/properties/revenue"

    # The SDK retrying a batch (same messageIds) stores nothing twice.
    resend = Client(
        shop.app.write_key,
        host=gunicorn_url,
        gzip=use_gzip,
        on_error=lambda error, batch: errors.append(error),
    )
    resend.track(
        "u1",
        "Order Completed",
        {"revenue": 12.5},
        context=context,
        message_id=ids["track"]["messageId"],
    )
    resend.track("u1", "Order Completed", {"revenue": 1}, context=context, message_id="sentinel")
    resend.flush()
    resend.join()
    assert errors == []
    wait_until(lambda: count_events(full_app, message_id="sentinel") == 1, 30, "the sentinel")
    assert count_events(full_app, message_id=ids["track"]["messageId"]) == 1
    assert count_events(full_app, test_run=run) == len(ids) + 1


def test_racing_copies_of_one_message_are_stored_once(full_app, gunicorn_url, celery_worker):
    shop = add_app(full_app, plan=SDK_PLAN)
    message_id = str(uuid.uuid4())
    start = threading.Barrier(16)

    def send(i: int) -> dict:
        start.wait()
        if i % 2:
            return request(
                "POST",
                f"{gunicorn_url}/v1/track",
                {
                    "event": "Order Completed",
                    "properties": {"revenue": i},
                    "userId": "u",
                    "messageId": message_id,
                    "writeKey": shop.app.write_key,
                },
            )[1]
        return request(
            "POST",
            f"{gunicorn_url}/api/logs/{shop.app.write_key}",
            {"eventName": "Order Completed", "revenue": i, "messageId": message_id},
        )[1]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(send, range(16)))
    assert sum(a["status"] != "duplicate" for a in answers) == 1
    assert len({a["task_id"] for a in answers}) == 1
    wait_until(lambda: count_events(full_app, message_id=message_id) == 1, 30, "the one row")
    # Nothing more arrives later: a sentinel sent after it is stored, and still one row.
    request(
        "POST",
        f"{gunicorn_url}/api/logs/{shop.app.write_key}",
        {"eventName": "Home", "messageId": "after"},
    )
    wait_until(lambda: count_events(full_app, message_id="after") == 1, 30, "the sentinel")
    assert count_events(full_app, message_id=message_id) == 1
