"""The overview reads the aggregates: volume by status per minute, hour or day, the failing
share, per-event health and top violations, within the chosen time range, with plan publishes
marked; a recount can be queued from it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp
from app.models.types import utcnow
from app.services.plans.versions import save_plan
from app.services.statistics.aggregates import count_new_events
from app.services.storage.events import store_events
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN, broker_messages, message_args, queued_message


def _owner_with_shop(micro_app, email: str):
    """A signed-in user's client, and their app "Shop" with the demo plan published."""
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, email)
    submit(client, "/apps", {"name": "Shop"})
    with micro_app.app_context():
        app = db.session.scalars(select(TrackedApp).where(TrackedApp.name == "Shop")).one()
        save_plan(app, DEMO_PLAN, publish=True)
        return client, app.id, app.write_key


def _owner_with_events(micro_app):
    client, app_id, key = _owner_with_shop(micro_app, "overview@example.com")
    now = utcnow()
    spec = [  # (hours ago, event)
        *[(0, {"eventName": "user_login", "userId": n}) for n in range(5)],
        *[(0, {"eventName": "user_login", "userId": f"u{n}"}) for n in range(3)],
        (1, {"eventName": "purchase", "price": 1, "currency": "EUR", "items": [{"sku": 1}]}),
        (1, {"eventName": "purchase", "price": 2, "currency": "EUR", "items": [{}, {"sku": 2}]}),
        (1, {"eventName": "checkout_started"}),
        (30, {"eventName": "screen_view", "screen_name": "home"}),
    ]
    messages = []
    for hours_ago, raw in spec:
        message = queued_message(micro_app, key, raw)
        message["received_at"] = (now - timedelta(hours=hours_ago)).isoformat()
        messages.append(message)
    with micro_app.app_context():
        store_events(messages)
        count_new_events()  # micro (SQLite) counts up to the newest event at once
    return client, app_id


def _table(page: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table class="list" id="{table_id}">.*?<tbody>(.*?)</tbody>', page, re.S)
    return [
        [
            html.unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)
    ]


def test_the_overview_shows_health_top_violations_and_charts_of_the_window(micro_app):
    client, app_id = _owner_with_events(micro_app)
    page = client.get(f"/apps/{app_id}/overview").get_data(as_text=True)
    assert _table(page, "event-health") == [
        ["purchase", "2", "0", "2", "0", "100.0 %"],
        ["checkout_started", "1", "0", "0", "1", "100.0 %"],
        ["user_login", "8", "5", "3", "0", "37.5 %"],
    ]  # the worst share first, then the busiest; screen_view (30 h ago) is outside 24h
    assert _table(page, "top-violations") == [
        ["user_login", "type", "/properties/userId", "3"],
        ["purchase", "type", "/properties/items/*/sku", "2"],  # one path for every index
        ["checkout_started", "unplanned", "/eventName", "1"],
        ["purchase", "required", "/properties/items/*/sku", "1"],
    ]
    bars = re.findall(r'<rect [^>]*class="(\w+)"><title>([^<]+)</title>', page)
    assert sorted((status, title.rsplit("· ", 1)[1]) for status, title in bars) == [
        ("invalid", "2 invalid"),
        ("invalid", "3 invalid"),
        ("unplanned", "1 unplanned"),
        ("valid", "5 valid"),
    ]
    points = re.findall(r'<circle [^>]*class="point"><title>[^<]*· ([\d.]+%) failing</title>', page)
    assert points == ["100.0%", "37.5%"]  # the hour before, then the current one
    assert len(re.search(r'<polyline points="([^"]+)"', page).group(1).split()) == 2

    week = client.get(f"/apps/{app_id}/overview?window=7d").get_data(as_text=True)
    assert ["screen_view", "1", "1", "0", "0", "0.0 %"] in _table(week, "event-health")
    month = client.get(f"/apps/{app_id}/overview?window=30d").get_data(as_text=True)
    assert "Events per day <small>(12 in 30d)</small>" in month  # 30 bars of a day each
    assert len(re.findall(r"<rect ", month)) <= 2 * 3


def test_an_empty_app_has_an_overview_and_a_recount_is_queued(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "empty@example.com")
    page = submit(client, "/apps", {"name": "Empty"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    page = client.get(f"/apps/{app_id}/overview?window=bogus").get_data(as_text=True)
    assert "No events counted in this range yet." in page
    assert 'statistics as of <span id="updated">never' in page
    answer = submit(
        client,
        f"/apps/{app_id}/overview",
        {},
        action=f"/apps/{app_id}/overview/recount?window=7d",
    )
    assert "Recount queued" in answer.get_data(as_text=True)
    [queued] = broker_messages(micro_app, queue="batch_processing")
    assert message_args(queued) == [app_id, 7 * 24]


def test_the_overview_compares_two_app_versions(micro_app):
    client, app_id, key = _owner_with_shop(micro_app, "versions@example.com")
    raws = [
        {"eventName": "user_login", "userId": "x", "context": {"app": {"version": "1.0"}}},
        {"eventName": "user_login", "userId": 1, "context": {"app": {"version": "1.1"}}},
        {"eventName": "screen_view", "context": {"app": {"version": "1.1"}}},
    ]
    with micro_app.app_context():
        store_events([queued_message(micro_app, key, raw) for raw in raws])
        count_new_events()
    page = client.get(f"/apps/{app_id}/overview").get_data(as_text=True)
    assert "<option selected>1.0</option>" in page and "<option selected>1.1</option>" in page
    page = client.get(f"/apps/{app_id}/overview?base=1.0&head=1.1").get_data(as_text=True)
    assert "<title>Shop · overview · Live Validation Dashboard</title>" in page
    assert page.count('id="regressions"') == 1
    assert "1.1 regressed against 1.0" in page
    assert _table(page, "regression-changes") == [
        ["new", "screen_view", "required", "/properties/screen_name", "0 / 0", "1 / 1"],
        ["gone", "user_login", "type", "/properties/userId", "1 / 1", "0 / 1"],
    ]


def test_the_last_hour_is_drawn_per_minute_with_plan_publishes_marked(micro_app):
    client, app_id, key = _owner_with_shop(micro_app, "minutes@example.com")  # plan v1 now
    now = utcnow()
    messages = []
    for minutes_ago, raw in [
        (2, {"eventName": "user_login", "userId": 1}),
        (2, {"eventName": "user_login", "userId": 2}),
        (2, {"eventName": "user_login", "userId": "x"}),
        (45, {"eventName": "checkout_started"}),
    ]:
        message = queued_message(micro_app, key, raw)
        message["received_at"] = (now - timedelta(minutes=minutes_ago)).isoformat()
        messages.append(message)
    with micro_app.app_context():
        store_events(messages)
        count_new_events()
        save_plan(db.session.get(TrackedApp, app_id), DEMO_PLAN, publish=True)  # v2

    page = client.get(f"/apps/{app_id}/overview?window=1h").get_data(as_text=True)
    assert "Events per minute <small>(4 in 1h)</small>" in page
    assert '<span id="resolutions">' in page and "<strong>minute</strong>" in page
    bars = re.findall(r'<rect [^>]*class="(\w+)"><title>([^<]+)</title>', page)
    two_ago = (now - timedelta(minutes=2)).strftime("%Y-%m-%d %H:%M")
    assert sorted(bars) == sorted(
        [
            ("valid", f"{two_ago} UTC · 2 valid"),
            ("invalid", f"{two_ago} UTC · 1 invalid"),
            ("unplanned", f"{(now - timedelta(minutes=45)):%Y-%m-%d %H:%M} UTC · 1 unplanned"),
        ]
    )
    # Two minutes with events, 43 minutes apart: two points, no line drawn between them.
    assert len(re.findall(r'class="point"', page)) == 2 and "<polyline" not in page
    # Both publishes, on both charts, placed by their time; the legend names them.
    lines = re.findall(r'<line x1="([\d.]+)"[^>]*class="publish"><title>([^<]+)</title>', page)
    assert [title.split(" published")[0] for _, title in lines] == ["Plan v1", "Plan v2"] * 2
    right_edge = 900 - 24
    assert all(right_edge - 20 < float(x) <= right_edge for x, _ in lines)  # within the minute
    labels = re.findall(r'y="(\d+)" class="publish-label">v(\d)<', page)
    assert labels == [("30", "1"), ("42", "2")] * 2  # close together: stacked, not overlaid
    assert re.search(r'id="publish-legend">┆ plan published \(v1 [\d: -]+, v2 ', page)

    hourly = client.get(f"/apps/{app_id}/overview?window=1h&resolution=hour").get_data(as_text=True)
    assert "Events per hour <small>(" in hourly and len(re.findall(r"<rect ", hourly)) <= 3
    # An unknown resolution shows the window's default, as an unknown window does.
    fallback = client.get(f"/apps/{app_id}/overview?window=6h&resolution=week")
    assert fallback.status_code == 200 and "Events per minute" in fallback.get_data(as_text=True)
    day = client.get(f"/apps/{app_id}/overview?window=24h&resolution=minute").get_data(as_text=True)
    assert "Events per hour" in day  # minutes for 6 hours at most
