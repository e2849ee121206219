"""`events` partitioned by day on PostgreSQL (migration 0015, storage/partitions.py), one plain
table on SQLite: partitions made ahead, events of any time kept (the default partition), whole
days dropped by retention with per-app cutoffs, cursors across a day boundary, a redelivered
message stored once, and the migration of a populated table."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import flask_migrate
import psycopg
import pytest
from sqlalchemy import select, text

from app import create_app
from app.extensions import db
from app.models import Event, TrackedApp
from app.models.dialect import is_postgresql
from app.services.ingestion.stored_event import StoredEvent
from app.services.storage import partitions, retention
from app.services.storage.events import store_batches, store_events
from tests.api.helpers import prepare
from tests.support.profiles import add_app, close_app, full_env

NOW = datetime.now(UTC)
DEMO = {"eventName": "user_login", "userId": 1}


@pytest.fixture
def made_partitions(postgres_server):
    """Drop the day partitions a test made (they outlive TRUNCATE), so others see none."""
    query = (
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname <> %s AND c.relkind = 'r'"
    )
    args = (partitions.SCHEMA, partitions.DEFAULT)
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        before = {name for (name,) in conn.execute(query, args)}
    yield
    with psycopg.connect(postgres_server.url, autocommit=True) as conn:
        for (name,) in conn.execute(query, args).fetchall():
            if name not in before and name.startswith("events_p"):
                conn.execute(f"DROP TABLE IF EXISTS {partitions.SCHEMA}.{name}")


def _where(event_ids: list[int]) -> dict[int, str]:
    """The table each event's row is in (a partition's name, or `events` on SQLite)."""
    if not is_postgresql():
        return dict.fromkeys(event_ids, "events")
    rows = db.session.execute(
        text("SELECT id, tableoid::regclass::text FROM events WHERE id = ANY(:ids)"),
        {"ids": event_ids},
    )
    return {row_id: table.split(".")[-1] for row_id, table in rows}


def _store_at(flask_app, new, moments: list[datetime]) -> list[dict]:
    """One event received at each moment, stored one by one (ids follow the list)."""
    messages = []
    for n, moment in enumerate(moments):
        [message] = prepare(flask_app, new, [{**DEMO, "n": n}], received_at=moment)
        messages.append(message)
        with flask_app.app_context():
            assert store_events([message]) == 1
    return messages


def test_partitions_are_made_a_week_ahead_and_again_only_when_missing(full_app, made_partitions):
    far = datetime(2031, 3, 10, 15, 0, tzinfo=UTC)
    with full_app.app_context():
        made = partitions.ensure_partitions(far)
        days = [date(2031, 3, 9) + timedelta(days=n) for n in range(9)]
        assert made == days  # yesterday, today and a week ahead
        assert partitions.ensure_partitions(far + timedelta(hours=5)) == []
        assert partitions.ensure_partitions(far + timedelta(days=1)) == [date(2031, 3, 18)]
        assert set(days) <= set(partitions.day_partitions())


@pytest.mark.parametrize(
    "moment",
    [datetime(2999, 12, 31, 23, 59, tzinfo=UTC), datetime(1900, 1, 1, 0, 0, 1, tzinfo=UTC)],
    ids=["year-2999", "year-1900"],
)
def test_an_event_of_any_time_is_stored_and_moved_into_its_day(any_app, made_partitions, moment):
    shop = add_app(any_app)
    [message] = _store_at(any_app, shop, [moment])
    with any_app.app_context():
        [row_id] = db.session.scalars(select(Event.id)).all()
        if is_postgresql():
            # No partition covers that day: the default one keeps the event.
            assert _where([row_id]) == {row_id: partitions.DEFAULT}
            assert moment.date() in partitions.ensure_partitions(NOW)
            assert _where([row_id]) == {row_id: partitions.partition_name(moment.date())}
        stored = db.session.execute(select(Event.id, Event.task_id, Event.received_at)).all()
        assert [tuple(r) for r in stored] == [(row_id, message["task_id"], moment)]


def test_retention_drops_whole_days_and_deletes_rows_of_shorter_retentions(
    any_app, made_partitions
):
    long, short = add_app(any_app, name="long"), add_app(any_app, name="short")
    with any_app.app_context():
        db.session.get(TrackedApp, short.app.id).retention_days = 7
        db.session.commit()
    ages = {"long": (40, 20, 1), "short": (40, 10, 6, 1)}
    kept = {("long", 20), ("long", 1), ("short", 6), ("short", 1)}
    stored = {}
    for name, new in (("long", long), ("short", short)):
        moments = [NOW - timedelta(days=d) for d in ages[name]]
        for age, message in zip(ages[name], _store_at(any_app, new, moments), strict=True):
            stored[(name, age)] = message["task_id"]
    with any_app.app_context():
        partitions.ensure_partitions(NOW)  # the old days' rows move into day partitions
        old_day = (NOW - timedelta(days=40)).date()
        if is_postgresql():
            assert old_day in partitions.day_partitions()
        deleted, remaining = retention.delete_old_events(30, max_batches=10, now=NOW)
        assert (deleted, remaining) == (3, False)
        left = set(db.session.scalars(select(Event.task_id)))
        assert left == {stored[key] for key in kept}
        if is_postgresql():
            days = partitions.day_partitions()
            assert old_day not in days  # dropped whole
            assert (NOW - timedelta(days=10)).date() in days  # younger than 30 days: kept


def test_cursors_page_across_a_day_boundary(any_app, made_partitions):
    shop = add_app(any_app)
    midnight = datetime(2026, 11, 20, tzinfo=UTC)
    moments = [midnight + timedelta(seconds=s) for s in (-3, 2, -2, 3, -1, 1)]  # days mixed
    with any_app.app_context():
        partitions.ensure_partitions(midnight)
    messages = _store_at(any_app, shop, moments)
    with any_app.app_context():
        ids = db.session.scalars(select(Event.id).order_by(Event.id)).all()
        if is_postgresql():
            assert set(_where(ids).values()) == {"events_p20261119", "events_p20261120"}
    client = any_app.test_client()
    seen, cursor = [], None
    for _ in range(10):
        response = client.get(
            f"/api/apps/{shop.app.id}/events",
            query_string={"limit": 2, **({"cursor": cursor} if cursor else {})},
            headers={"Authorization": f"Bearer {shop.read_key}"},
        )
        assert response.status_code == 200
        seen += [event["task_id"] for event in response.json["events"]]
        cursor = response.json["next_cursor"]
        if cursor is None:
            break
    assert seen == [m["task_id"] for m in reversed(messages)]


def test_a_redelivered_message_is_stored_once(any_app):
    shop = add_app(any_app)
    [message] = prepare(any_app, shop, [DEMO])
    # What a redelivery carries: the queued JSON read back, received_at as admission fixed it.
    again = StoredEvent.from_dict(json.loads(json.dumps(message)))
    assert again.received_at == message["received_at"]
    with any_app.app_context():
        assert store_events([message]) == 1
        assert store_events([again]) == 0
        if is_postgresql():  # the drain's path: a whole queued batch, twice
            assert store_batches([json.dumps([message]), json.dumps([message])]) == []
        rows = db.session.scalars(select(Event.task_id)).all()
    assert rows == [message["task_id"]]


def test_upgrading_a_populated_table_keeps_every_row_and_the_id_sequence(
    full_app, redis_server, postgres_server, service_root
):
    """From 0014 with rows to the newest schema, in a database of its own."""
    name = "lvd_partition_migration"
    admin = postgres_server.url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = postgres_server.url.rsplit("/", 1)[0] + "/" + name
    app = create_app({**full_env(service_root, redis_server, postgres_server), "DATABASE_URL": url})
    try:
        with app.app_context():
            flask_migrate.upgrade(revision="0014")
        shop = add_app(app)
        moments = [NOW - timedelta(days=d, hours=h) for d in (0, 3, 45) for h in (1, 2)]
        with app.app_context():
            for n, moment in enumerate(moments):
                [message] = prepare(app, shop, [{**DEMO, "n": n}], received_at=moment)
                # 0014's table: stored with the SQL of that schema (ON CONFLICT (task_id)).
                row = {k: v for k, v in message.items()}
                db.session.execute(
                    text(
                        "INSERT INTO events (task_id, app_id, type, event_name, status, "
                        "violations, payload, payload_hash, received_at, timestamp, stored_at) "
                        "VALUES (:task_id, :app_id, :type, :event_name, :status, "
                        "CAST(:violations AS jsonb), CAST(:payload AS jsonb), :payload_hash, "
                        ":received_at, :timestamp, now())"
                    ),
                    {
                        **row,
                        "app_id": shop.app.id,
                        "violations": json.dumps(row["violations"]),
                        "payload": json.dumps(row["payload"]),
                    },
                )
            db.session.commit()
            query = text("SELECT id, task_id, received_at, payload FROM events ORDER BY id")
            before = db.session.execute(query).all()
            db.session.commit()
            flask_migrate.upgrade()
            after = db.session.execute(query).all()
            assert [tuple(r) for r in after] == [tuple(r) for r in before]
            assert len(after) == 6
            kind = db.session.scalar(text("SELECT relkind FROM pg_class WHERE relname = 'events'"))
            assert kind == "p"  # partitioned
            assert _where([r.id for r in after]) == {
                r.id: partitions.partition_name(r.received_at.date()) for r in after
            }
            [message] = prepare(app, shop, [{**DEMO, "n": "new"}])
            message["app_id"] = shop.app.id
            assert store_events([message]) == 1
            newest = db.session.scalar(select(Event.id).where(Event.task_id == message["task_id"]))
            assert newest == before[-1].id + 1  # the sequence went on where it was
    finally:
        close_app(app)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_command_line_makes_partitions_and_deletes_old_events(any_app, made_partitions):
    shop = add_app(any_app)
    _, new = _store_at(any_app, shop, [NOW - timedelta(days=45), NOW])
    with any_app.app_context():
        postgresql = is_postgresql()
    runner = any_app.test_cli_runner()
    made = runner.invoke(args=["events", "partitions", "--behind-days", "50", "--json"])
    assert made.exit_code == 0, made.output
    days = json.loads(made.output)["made"]
    if postgresql:  # the old event's day (from the default partition) among them
        assert (NOW - timedelta(days=45)).date().isoformat() in days
    else:
        assert days == []
    gone = runner.invoke(args=["events", "delete-old", "--json"])
    assert gone.exit_code == 0, gone.output
    assert json.loads(gone.output)["deleted"] == 1
    with any_app.app_context():
        assert db.session.scalars(select(Event.task_id)).all() == [new["task_id"]]
