"""The overview's numbers as JSON (`GET /api/apps/<id>/overview`): counts by status per minute
for the last hours, per hour or day beyond, and the plan publishes in the window, read from the
statistics that the stored events were counted into.

Bad inputs tried: an unknown window, an unknown resolution, minutes for a day."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from app.extensions import db
from app.models import TrackedApp
from app.models.types import utcnow
from app.services.plans.versions import save_plan
from app.services.statistics.aggregates import count_new_events
from app.services.storage.events import store_events
from tests.helpers import DEMO_PLAN, assert_error, queued_message
from tests.support.profiles import add_app

# (minutes ago, event): 9 events in the last hour, one 90 minutes ago.
SENT = [
    (0, {"eventName": "user_login", "userId": 1}),
    (0, {"eventName": "user_login", "userId": "x"}),
    (1, {"eventName": "user_login", "userId": 2}),
    (1, {"eventName": "checkout_started"}),
    (1, {"eventName": "user_login", "userId": 3}),
    (7, {"eventName": "user_login", "userId": "y"}),
    (30, {"eventName": "user_login", "userId": 4}),
    (30, {"eventName": "user_login", "userId": 5}),
    (50, {"eventName": "screen_view", "screen_name": "home"}),
    (90, {"eventName": "user_login", "userId": 6}),
]


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _store_and_count(flask_app, key: str) -> list[tuple[datetime, str]]:
    """Store SENT as a worker would, count the statistics; (received_at, status) of each."""
    now = utcnow()
    messages = []
    for minutes_ago, raw in SENT:
        message = queued_message(flask_app, key, raw)
        message["received_at"] = (now - timedelta(minutes=minutes_ago)).isoformat()
        messages.append(message)
    with flask_app.app_context():
        store_events(messages)
        for _ in range(2):  # PostgreSQL counts one run behind
            count_new_events()
    return [(_parse(m["received_at"]), m["status"]) for m in messages]


def test_minute_bars_count_exactly_the_events_sent_in_them(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    sent = _store_and_count(any_app, shop.app.write_key)
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/overview"

    answer = client.get(url + "?window=1h", headers=auth)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.json
    assert body["resolution"] == "minute"  # the default for the last hours
    buckets = body["buckets"]
    assert len(buckets) == 60
    starts = [_parse(b["start"]) for b in buckets]
    assert all(b - a == timedelta(minutes=1) for a, b in zip(starts, starts[1:], strict=False))
    # What each minute should hold, from the events' own times (whatever minute it is now).
    expected = Counter(
        (at.replace(second=0, microsecond=0), status) for at, status in sent if at >= starts[0]
    )
    got = Counter()
    for start, bucket in zip(starts, buckets, strict=True):
        for status in ("valid", "invalid", "unplanned"):
            if bucket[status]:
                got[start, status] = bucket[status]
        assert bucket["total"] == bucket["valid"] + bucket["invalid"] + bucket["unplanned"]
    assert got == expected
    assert sum(b["total"] for b in buckets) == 9

    # Three hours of minutes hold the older event too; the same hours by the hour agree.
    minutes = client.get(url + "?window=3h&resolution=minute", headers=auth).json["buckets"]
    hours = client.get(url + "?window=3h&resolution=hour", headers=auth).json["buckets"]
    assert (len(minutes), len(hours)) == (180, 3)
    assert sum(b["total"] for b in minutes) == sum(b["total"] for b in hours) == 10
    assert sum(b["invalid"] for b in hours) == 2 and sum(b["unplanned"] for b in hours) == 1


def test_plan_publishes_in_the_window_are_listed(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)  # publishes v1 now
    with any_app.app_context():
        save_plan(db.session.get(TrackedApp, shop.app.id), DEMO_PLAN, publish=True)  # v2
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    body = client.get(f"/api/apps/{shop.app.id}/overview?window=1h", headers=auth).json
    publishes = body["plan_publishes"]
    assert [p["version"] for p in publishes] == [1, 2]
    first_bar = _parse(body["buckets"][0]["start"])
    assert all(first_bar <= _parse(p["published_at"]) <= utcnow() for p in publishes)


def test_unknown_windows_and_resolutions_are_400(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/overview"
    for query in (
        "?window=2h",
        "?window=1h&resolution=second",
        "?window=24h&resolution=minute",  # 1,440 bars: minutes for 6 hours at most
        "?window=30d&resolution=hour",
        "?resolution=",
    ):
        assert_error(client.get(url + query, headers=auth), 400, "invalid_parameter")
    assert client.get(url + "?window=7d", headers=auth).json["resolution"] == "hour"
    assert len(client.get(url + "?window=30d", headers=auth).json["buckets"]) == 30
