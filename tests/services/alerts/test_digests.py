"""Daily digests: yesterday's counts of each owned app, mailed once through a real worker to the
SMTP sink; reruns, concurrent or not, send nothing more."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Event, TrackedApp
from app.models.types import utcnow
from app.services import alerts
from app.services.statistics.aggregates import general_path
from app.tasks.alerts import queue_mail, send_daily_digests
from tests.helpers import DEMO_PLAN
from tests.services.alerts.helpers import (
    PUBLIC_URL,
    all_delivered,
    count,
    listed_violations,
    owned_app,
    parts,
    store,
)
from tests.support.profiles import add_app

KINDS = [
    {"eventName": "user_login", "userId": 1},
    {"eventName": "user_login", "userId": "x"},
    {"eventName": "user_login"},
    {"eventName": "screen_view", "screen_name": "home"},
    {"eventName": "screen_view"},
    {"eventName": "purchase", "price": 1, "currency": "EUR"},
    {"eventName": "purchase", "price": -1, "currency": "eu", "items": [{"sku": 1}, {}]},
    {"eventName": "purchase", "price": "free", "currency": "EUR", "items": [{"sku": 2}]},
    {"eventName": "promo_shown"},
    {"eventName": "cart_opened"},
]


def store_spread(flask_app, write_key: str, day: date, n: int, seed: int) -> None:
    """`n` random events over one UTC day, its first and last second included."""
    rng = random.Random(seed)
    start = datetime.combine(day, time(), UTC)
    seconds = [0, 86399] + [rng.randrange(86400) for _ in range(n - 2)]
    for second in seconds:
        raw = {**rng.choice(KINDS), "n": rng.random()}  # `n`: no two events alike
        store(flask_app, write_key, [raw], start + timedelta(seconds=second))


def direct_day(flask_app, app_id: int, day: date) -> tuple[Counter, list, list]:
    """Counts by status, the top ten violations and per-event health of a day, from its events."""
    start = datetime.combine(day, time(), UTC)
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.event_name, Event.status, Event.violations).where(
                Event.app_id == app_id,
                Event.received_at >= start,
                Event.received_at < start + timedelta(days=1),
            )
        ).all()
    statuses = Counter(status for _, status, _ in rows)
    violations = Counter(
        (name, v["rule"], general_path(v["path"])) for name, _, vs in rows for v in vs
    )
    top = [(*key, n) for key, n in sorted(violations.items(), key=lambda kv: (-kv[1], kv[0]))[:10]]
    by_event: dict[str, Counter] = {}
    for name, status, _ in rows:
        by_event.setdefault(name, Counter())[status] += 1
    health = sorted(
        (
            (
                name,
                c["valid"],
                c["invalid"],
                c["unplanned"],
                (c["invalid"] + c["unplanned"]) / c.total(),
            )
            for name, c in by_event.items()
        ),
        key=lambda e: (-e[4], -(e[1] + e[2] + e[3]), e[0]),
    )
    return statuses, top, health


def concurrent_digests(flask_app, today: date, times: int = 4) -> list[int]:
    barrier = threading.Barrier(times)

    def one() -> list[int]:
        with flask_app.app_context():
            barrier.wait()
            return alerts.send_daily_digests(queue_mail, flask_app.config["PUBLIC_URL"], today)

    with ThreadPoolExecutor(times) as pool:
        runs = [pool.submit(one) for _ in range(times)]
        return [app_id for run in runs for app_id in run.result()]


_HEALTH_LINE = re.compile(r"^  (\S+): ([\d,]+) / ([\d,]+) / ([\d,]+), ([\d.]+)%$", re.MULTILINE)


def test_the_digest_of_yesterday_arrives_once_with_the_right_counts(full_app, sink):
    today = utcnow().date()
    yesterday = today - timedelta(days=1)
    daily_id, daily_key = owned_app(full_app, "daily@example.com", "daily")
    idle_id, idle_key = owned_app(full_app, "idle@example.com", "idle")
    ownerless = add_app(full_app, "ownerless", plan=DEMO_PLAN)
    store_spread(full_app, daily_key, yesterday, 150, seed=1)
    store_spread(full_app, daily_key, yesterday - timedelta(days=1), 20, seed=2)  # not in it
    store_spread(full_app, daily_key, today, 20, seed=3)  # nor these
    store_spread(full_app, idle_key, today, 10, seed=4)  # idle had nothing yesterday
    store_spread(full_app, ownerless.app.write_key, yesterday, 10, seed=5)  # nobody to mail
    count(full_app)

    assert concurrent_digests(full_app, today) == [daily_id]
    with full_app.app_context():  # reruns through the task: nothing more
        for _ in range(2):
            assert (
                send_daily_digests.apply(args=(today.isoformat(),)).get(disable_sync_subtasks=False)
                == []
            )
    (mail,) = all_delivered(full_app, sink)

    statuses, top, health = direct_day(full_app, daily_id, yesterday)
    total = sum(statuses.values())
    assert total == 150
    failing = (statuses["invalid"] + statuses["unplanned"]) / total
    assert mail["To"] == "daily@example.com"
    assert mail["Subject"] == f"[daily] {yesterday.isoformat()}: 150 events, {failing:.1%} failing"
    text, html = parts(mail)["text/plain"], parts(mail)["text/html"]
    for status in ("valid", "invalid", "unplanned"):
        assert f"  {status + ':':<10} {statuses[status]}\n" in text
    assert listed_violations(text) == top and len(top) == 10
    assert [
        (name, int(v), int(i), int(u), float(share))
        for name, v, i, u, share in _HEALTH_LINE.findall(text)
    ] == [(name, v, i, u, round(share * 100, 1)) for name, v, i, u, share in health]
    assert f"{PUBLIC_URL}/apps/{daily_id}/overview" in text
    assert f'href="{PUBLIC_URL}/apps/{daily_id}/overview"' in html
    with full_app.app_context():
        assert db.session.get(TrackedApp, daily_id).last_digest_on == yesterday
        assert (
            db.session.get(TrackedApp, idle_id).last_digest_on is None
        )  # no events: day left open

    # The next day, both owned apps had events (today's): each gets its digest of that day.
    assert sorted(concurrent_digests(full_app, today + timedelta(days=1))) == [daily_id, idle_id]
    mails = all_delivered(full_app, sink)
    today_line = f"] {today.isoformat()}: "
    assert {m["To"]: m["Subject"].split(today_line)[1].split(",")[0] for m in mails} == {
        "daily@example.com": "20 events",
        "idle@example.com": "10 events",
    }
