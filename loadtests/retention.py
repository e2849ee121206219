"""`make retention`: what retention costs on a big `events` table before and after partitioning.

Starts its own PostgreSQL (durable settings: fsync and full-page writes on, as in production)
on a free port in a temporary folder, with two databases side by side:

- old: the schema of migration 0014 (one unpartitioned `events` with its 9 indexes), and the
  retention of commit b498dcb (app/services/storage/retention.py there): batches of 5,000 rows,
  `DELETE … WHERE id IN (SELECT id … ORDER BY id LIMIT 5000)`, one commit each, its SQL
  reproduced below as SQLAlchemy wrote it;
- new: the newest schema (partitioned by day, migration 0015), and today's retention
  (`flask --app run events delete-old`, which runs `retention.delete_old_events`).

Each gets the same `--events` events of one app spread evenly over 30 days (one INSERT … SELECT
FROM generate_series, indexes built after the load for speed, then VACUUM ANALYZE). Then, in one
run, alternating old and new:

- insert cost: `--insert-rows` new rows of today per round (one INSERT … SELECT), time and WAL
  bytes per row (the new layout with its partial indexes, the old with its 9 full ones);
- retention: drop the oldest remaining day (one day = events/30 rows) — time and WAL bytes
  (pg_current_wal_lsn before and after, pg_wal_lsn_diff), after a CHECKPOINT each; for the old
  layout also the VACUUM that the deleted rows make necessary (autovacuum would run it).

Like the other load tests it never imports `app`: it migrates, creates the app, makes the
partitions and runs the new retention through the product's command line (`flask --app run db
upgrade`, `apps create`, `events partitions`, `events delete-old`), and does the rest in SQL.
Everything it started is stopped, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from loadtests.product_cli import flask_command
from stack.servers import Server, free_port, start_postgres

DAYS = 30
BATCH = 5000  # retention.BATCH at b498dcb
# b498dcb's retention statement, as SQLAlchemy compiled it for PostgreSQL (psycopg style).
OLD_DELETE = (
    "DELETE FROM events WHERE events.id IN (SELECT events.id FROM events "
    "WHERE events.app_id = %(app_id_1)s::INTEGER "
    "AND events.received_at < %(received_at_1)s::TIMESTAMP WITH TIME ZONE "
    "ORDER BY events.id LIMIT %(param_1)s::INTEGER)"
)
NAMES = (
    "user_login purchase screen_view add_to_cart remove_from_cart checkout_started search "
    "product_viewed sign_up logout share push_opened app_open app_background settings_changed "
    "review_submitted coupon_applied wishlist_added video_played error_shown"
).split()
# `n` events of app `app` from `start` over `span`, ids following time. A production-like mix
# for the partial indexes: a test run on 1 in 10 blocks of 2,500 events, a device id on 80 %,
# an app version on 90 %; 10 % invalid.
LOAD_SQL = """
INSERT INTO events (
    task_id, app_id, type, event_name, status, violations, plan_version, payload, payload_hash,
    message_id, user_id, received_at, sent_at, timestamp, app_version, os_name, device_id,
    library_name, library_version, test_run, stored_at)
SELECT
    md5(%(tag)s || i), %(app)s, 'track', name,
    CASE WHEN i %% 10 = 3 THEN 'invalid' ELSE 'valid' END, '[]'::jsonb, 1,
    jsonb_build_object('eventName', name, 'userId', i %% 20000, 'messageId', 'msg-' || i,
        'properties', jsonb_build_object('price', 12.99, 'currency', 'EUR')),
    md5('payload:' || %(tag)s || i) || md5('hash:' || i),
    %(tag)s || 'msg-' || i, 'user-' || (i %% 20000), at, at - interval '150 ms', at,
    CASE WHEN i %% 10 <> 0 THEN '2.' || (i %% 5) || '.0' END,
    CASE WHEN i %% 2 = 0 THEN 'iOS' ELSE 'Android' END,
    CASE WHEN i %% 5 <> 0 THEN 'device-' || (i %% 50) END,
    'lvd-swift', '1.4.2',
    CASE WHEN (i / 2500) %% 10 = 0 THEN 'ci-' || (i / 2500) END,
    at + interval '40 ms'
FROM (
    SELECT i, (%(names)s::text[])[1 + i %% 20] AS name,
        %(start)s::timestamptz + %(span)s::interval * (i - 1) / %(n)s AS at
    FROM generate_series(1::bigint, %(n)s) AS i
) AS e
"""


@dataclass
class Layout:
    """One database: its URL, its app, what was measured."""

    label: str
    url: str
    app_id: int = 0
    insert: list[tuple[float, int, int]] = field(default_factory=list)  # (s, WAL bytes, rows)
    drop: list[tuple[float, int, int]] = field(default_factory=list)
    vacuum: list[tuple[float, int]] = field(default_factory=list)


def product_env(work: Path, url: str, **settings: str) -> dict[str, str]:
    """The full profile against the database at `url`, as the command line reads it."""
    return {
        **os.environ,
        "LVD_PROFILE": "full",
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: no request, no task
        "LVD_DATA_DIR": str(work / "app"),
        "SECRET_KEY": "retention-benchmark",
        **settings,
    }


def migrate(work: Path, url: str, revision: str) -> int:
    """Migrate the database at `url` to `revision`, create one app; its id."""
    env = product_env(work, url)
    flask_command(env, "db", "upgrade", revision)
    return json.loads(flask_command(env, "apps", "create", "big", "--json"))["id"]


def wal_lsn(conn: psycopg.Connection) -> str:
    return conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]


def wal_since(conn: psycopg.Connection, start: str) -> int:
    return int(
        conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (start,)).fetchone()[0]
    )


def load(conn: psycopg.Connection, app_id: int, n: int, start: datetime, span: timedelta, tag: str):
    params = {"app": app_id, "n": n, "start": start, "span": span, "names": NAMES, "tag": tag}
    conn.execute(LOAD_SQL, params)


def bulk_load(layout: Layout, events: int, start: datetime) -> float:
    """Load the 30 days with the indexes dropped, then build them again; seconds taken."""
    began = time.monotonic()
    with psycopg.connect(layout.url, autocommit=True) as conn:
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u')"
        ).fetchall()
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = 'events' AND NOT indexname = ANY(%s)",
            ([name for name, _ in constraints],),
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for name, _ in constraints:
            conn.execute(f"ALTER TABLE events DROP CONSTRAINT {name}")
        load(conn, layout.app_id, events, start, timedelta(days=DAYS), "bulk")
        conn.execute("SET maintenance_work_mem = '512MB'")
        for name, definition in constraints:
            conn.execute(f"ALTER TABLE events ADD CONSTRAINT {name} {definition}")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE events")
    return time.monotonic() - began


def index_count(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'events'"
        ).fetchone()[0]


def measure_insert(layout: Layout, rows: int, at: datetime, tag: str) -> None:
    with psycopg.connect(layout.url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        start = wal_lsn(conn)
        began = time.perf_counter()
        load(conn, layout.app_id, rows, at, timedelta(minutes=1), tag)
        took = time.perf_counter() - began
        layout.insert.append((took, wal_since(conn, start), rows))


def old_retention(layout: Layout, cutoff: datetime) -> None:
    """b498dcb's loop for one app: batches of BATCH rows, a commit each, until one is short;
    then the VACUUM its dead rows need."""
    with psycopg.connect(layout.url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        start = wal_lsn(conn)
        began = time.perf_counter()
        deleted = 0
        while True:
            params = {"app_id_1": layout.app_id, "received_at_1": cutoff, "param_1": BATCH}
            with conn.transaction():
                gone = conn.execute(OLD_DELETE, params).rowcount
            deleted += gone
            if gone < BATCH:
                break
        layout.drop.append((time.perf_counter() - began, wal_since(conn, start), deleted))
        start = wal_lsn(conn)
        began = time.perf_counter()
        conn.execute("VACUUM events")
        layout.vacuum.append((time.perf_counter() - began, wal_since(conn, start)))


def new_retention(work: Path, layout: Layout, retention_days: int) -> None:
    """Today's retention (`events delete-old`) with EVENT_RETENTION_DAYS = `retention_days`:
    the time it reports for itself, the WAL from its start to its end."""
    env = product_env(work, layout.url, EVENT_RETENTION_DAYS=str(retention_days))
    with psycopg.connect(layout.url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        start = wal_lsn(conn)
        done = json.loads(flask_command(env, "events", "delete-old", "--json"))
        layout.drop.append((done["seconds"], wal_since(conn, start), done["deleted"]))


def make_day_partitions(work: Path, url: str, start: datetime) -> None:
    """The new layout's partitions for the 30 days loaded (and a week ahead)."""
    behind = (datetime.now(UTC) - start).days + 1
    flask_command(product_env(work, url), "events", "partitions", "--behind-days", str(behind))


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def report(old: Layout, new: Layout, events: int) -> str:
    lines = [
        f"| {events:,} events over {DAYS} days | old (0014, b498dcb) | new (0015, partitioned) |",
        "|---|---:|---:|",
    ]
    for label, layout_rows in (("drop one day", "drop"),):
        for i in range(len(old.drop)):
            o, n = getattr(old, layout_rows)[i], getattr(new, layout_rows)[i]
            lines.append(f"| {label} (round {i + 1}): rows | {o[2]:,} | {n[2]:,} |")
            lines.append(
                f"| {label} (round {i + 1}): time | {o[0] * 1000:,.1f} ms | {n[0] * 1000:,.1f} ms |"
            )
            lines.append(f"| {label} (round {i + 1}): WAL | {mib(o[1])} | {mib(n[1])} |")
            v = old.vacuum[i]
            lines.append(
                f"| then VACUUM events (round {i + 1}) | {v[0] * 1000:,.1f} ms, WAL {mib(v[1])} "
                "| none needed |"
            )
    if old.insert:
        per = [
            (
                statistics.median(t / r * 1e6 for t, _, r in x.insert),
                statistics.median(w / r for _, w, r in x.insert),
            )
            for x in (old, new)
        ]
        rows = old.insert[0][2]
        lines.append(
            f"| insert, µs per row (median of {len(old.insert)} x {rows:,} rows) "
            f"| {per[0][0]:.1f} | {per[1][0]:.1f} |"
        )
        lines.append(f"| insert, WAL bytes per row | {per[0][1]:,.0f} | {per[1][1]:,.0f} |")
    return "\n".join(lines)


def run(work: Path, events: int, rounds: int, insert_rows: int) -> tuple[Layout, Layout]:
    """Start PostgreSQL, build both layouts, measure; returns (old, new) with their figures."""
    started = time.monotonic()
    postgres: Server = start_postgres(work / "postgres", free_port(), durable=True)
    try:
        admin = postgres.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")  # fewer checkpoints in the load
            conn.execute("SELECT pg_reload_conf()")
            for name in ("lvd_old", "lvd_new"):
                conn.execute(f"CREATE DATABASE {name}")
        base = postgres.url.rsplit("/", 1)[0]
        old, new = Layout("old", f"{base}/lvd_old"), Layout("new", f"{base}/lvd_new")
        print(f"PostgreSQL {version} on 127.0.0.1, data in {work}", flush=True)
        old.app_id = migrate(work, old.url, "0014")
        new.app_id = migrate(work, new.url, "head")
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        start = today - timedelta(days=DAYS)
        make_day_partitions(work, new.url, start)
        for layout in (old, new):
            took = bulk_load(layout, events, start)
            print(
                f"{layout.label}: {events:,} events loaded and indexed in {took:.0f} s "
                f"({index_count(layout.url)} indexes on events)",
                flush=True,
            )
        load_avg = ", ".join(f"{n:.2f}" for n in os.getloadavg())
        print(f"measuring (load average {load_avg}) ...", flush=True)
        for i in range(rounds):
            for layout in (old, new):
                measure_insert(layout, insert_rows, datetime.now(UTC), f"r{i}-")
        for i in range(rounds):
            cutoff = start + timedelta(days=i + 1)
            old_retention(old, cutoff)
            # The data starts at a midnight, DAYS days ago: with a retention of DAYS - 1 - i
            # days the partitions before that cutoff's day go, which is the same day of events.
            new_retention(work, new, DAYS - 1 - i)
            print(f"round {i + 1}: old {old.drop[-1]}, new {new.drop[-1]}", flush=True)
    finally:
        postgres.stop()
    load_avg = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"load average at the end {load_avg}; done in {time.monotonic() - started:.0f} s")
    return old, new


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events over 30 days")
    parser.add_argument("--rounds", type=int, default=2, help="days dropped (each layout)")
    parser.add_argument("--insert-rows", type=int, default=20_000, help="rows per insert round")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="partitions-retention-"))
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user when we are root
    try:
        old, new = run(work, args.events, args.rounds, args.insert_rows)
        print(report(old, new, args.events))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
