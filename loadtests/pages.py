"""`make pages`: the dashboard's pages and the read API, timed with 1,000,000 stored events.

Starts its own PostgreSQL and Redis on free ports in a temporary folder, migrates the schema,
creates one verified user owning a big app (one million events, loaded by one INSERT … SELECT
FROM generate_series) and a small one, fills the hourly aggregates for the week, then times
every URL of PAGES and beat's hourly recount: median and p95 of warm runs, the SQL statements
each ran, and EXPLAIN (ANALYZE, BUFFERS) of the SELECTs that read events or their aggregates.
Anything that scans `events` sequentially is flagged SEQ SCAN, a page slower than SLOW_MS at
the median SLOW; the exit status is non-zero when something is flagged. Everything it started
is stopped by PID, also on error, Ctrl-C or SIGTERM.

Unlike the other load tests, which talk HTTP only and never import `app`, this is a data-scale
benchmark: it builds the app with `create_app` and drives it through Flask's test client, so it
measures the app's own time per request (queries, rendering, JSON) without gunicorn or the
network, and can record and EXPLAIN the SQL each request ran.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flask_migrate
import psycopg
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from stack.servers import Server, free_port, start_postgres, start_redis

ROOT = Path(__file__).resolve().parent.parent
DEMO_PLAN = json.loads((ROOT / "app" / "validation" / "demo_plan.json").read_text())
EMAIL, PASSWORD = "owner@example.com", "correct horse battery"
SLOW_MS = 100.0  # a page slower than this at the median is flagged
JOB_SLOW_MS = 1000.0  # the same for a background job (it runs per app every few minutes)
SMALL_APP_EVENTS = 300


@dataclass(frozen=True)
class Page:
    """One URL to time. `path` is formatted with the fixture's values (see `fixture_values`)."""

    label: str
    path: str
    key: str = ""  # "" signs in with the session; else the read key of "big" or "small"
    follow: int = 0  # follow next_cursor this many times, timing each page fetched
    optional: bool = False  # a page that may not exist yet: a 404 is noted, not an error
    slow_ms: float = SLOW_MS


# Every URL timed, in the order of the final table; add pages here.
PAGES = (
    Page("apps list", "/apps"),
    Page("app (keys, snippets)", "/apps/{app}"),
    Page("plan editor", "/apps/{app}/plan"),
    # The overview reads the hourly aggregates, filled for the whole week before timing.
    Page("overview 24h", "/apps/{app}/overview", optional=True),
    Page("overview 7d", "/apps/{app}/overview?window=7d", optional=True),
    Page("overview 30d", "/apps/{app}/overview?window=30d", optional=True),
    Page("live page", "/apps/{app}/live"),
    Page("events.json", "/apps/{app}/events.json"),
    Page("events.json status=invalid", "/apps/{app}/events.json?status=invalid"),
    Page("events.json status=unplanned", "/apps/{app}/events.json?status=unplanned"),
    Page("events.json event_name", "/apps/{app}/events.json?event_name={event_name}"),
    Page("events.json app_version", "/apps/{app}/events.json?app_version={app_version}"),
    Page("events.json device_id", "/apps/{app}/events.json?device_id={device}"),
    Page("events.json test_run", "/apps/{app}/events.json?test_run={test_run}"),
    Page(
        "events.json status+event_name",
        "/apps/{app}/events.json?status=invalid&event_name={event_name}",
    ),
    Page("events.json after=recent (poll)", "/apps/{app}/events.json?after={recent}"),
    Page("events.json after=newest (empty poll)", "/apps/{app}/events.json?after={newest}"),
    Page("events.json device_id, none stored", "/apps/{app}/events.json?device_id=device-none"),
    Page("events.json test_run, none stored", "/apps/{app}/events.json?test_run=ci-none"),
    Page("small app events.json", "/apps/{small}/events.json"),
    Page("API events", "/api/apps/{app}/events", key="big"),
    Page("API events next_cursor x50 (each)", "/api/apps/{app}/events", key="big", follow=50),
    Page("API events cursor mid-table", "/api/apps/{app}/events?cursor={middle}", key="big"),
    Page("API events since=1h ago", "/api/apps/{app}/events?since={since}", key="big"),
    Page(
        "API events since + status=invalid",
        "/api/apps/{app}/events?since={since}&status=invalid",
        key="big",
    ),
    Page("API events limit=500", "/api/apps/{app}/events?limit=500", key="big"),
    Page("API small app events", "/api/apps/{small}/events", key="small"),
    Page("test run page", "/apps/{app}/test-runs/{test_run}"),
    Page("API test run", "/api/test-runs/{test_run}", key="big"),
)

EVENT_NAMES = (
    "user_login purchase screen_view add_to_cart remove_from_cart checkout_started search "
    "product_viewed sign_up logout share push_opened app_open app_background settings_changed "
    "review_submitted coupon_applied wishlist_added video_played error_shown"
).split()
APP_VERSIONS = ("2.0.0", "2.1.0", "2.1.1", "2.2.0", "2.3.0")
DEVICES = 50
RUN_BLOCK = 2500  # consecutive events per block; every other block is a test run

# One statement: `n` events of app `app` over the last 7 days (ids follow time), ~85 % valid,
# 10 % invalid with one violation, 5 % unplanned; half of them in test runs of RUN_BLOCK events.
# The hashes make the mix deterministic and the columns independent of each other.
LOAD_SQL = """
INSERT INTO events (
    task_id, app_id, type, event_name, status, violations, plan_version, payload, payload_hash,
    message_id, user_id, anonymous_id, received_at, sent_at, client_timestamp, timestamp,
    app_version, os_name, device_id, library_name, library_version, test_run, stored_at)
SELECT
    md5(%(app)s || ':' || i), %(app)s, 'track', name, status,
    CASE WHEN status = 'invalid' THEN jsonb_build_array(jsonb_build_object(
        'path', '/properties/price', 'rule', 'type', 'expected', 'number',
        'actual', 'string', 'message', 'price must be a number, not a string',
        'plan_version', 1))
    ELSE '[]'::jsonb END,
    CASE WHEN status = 'unplanned' THEN NULL ELSE 1 END,
    jsonb_build_object(
        'eventName', name, 'userId', i %% 20000, 'messageId', 'msg-' || i,
        'timestamp', at, 'testRun', test_run,
        'properties', jsonb_build_object(
            'price', CASE WHEN status = 'invalid' THEN to_jsonb('12.99'::text)
                          ELSE to_jsonb(12.99) END,
            'currency', 'EUR', 'screen_name', 'home', 'method', 'email'),
        'context', jsonb_build_object(
            'app', jsonb_build_object('version', app_version),
            'device', jsonb_build_object('id', device_id),
            'os', jsonb_build_object('name', os_name),
            'library', jsonb_build_object('name', 'lvd-swift', 'version', '1.4.2'))),
    md5('payload:' || i) || md5('hash:' || i),
    'msg-' || i, 'user-' || (i %% 20000), NULL,
    at, at - interval '150 ms', at - interval '150 ms', at,
    app_version, os_name, device_id, 'lvd-swift', '1.4.2', test_run, at + interval '40 ms'
FROM (
    SELECT
        i, at,
        CASE WHEN s < 850 THEN 'valid' WHEN s < 950 THEN 'invalid' ELSE 'unplanned' END
            AS status,
        (%(names)s::text[])[1 + nm] AS name,
        (%(versions)s::text[])[1 + ver] AS app_version,
        'device-' || lpad(dev::text, 2, '0') AS device_id,
        CASE WHEN dev %% 2 = 0 THEN 'iOS' ELSE 'Android' END AS os_name,
        CASE WHEN block %% 2 = 0 THEN 'ci-' || lpad((block / 2)::text, 4, '0') END AS test_run
    FROM (
        SELECT
            i,
            abs(hashint8extended(i, 1) %% 1000) AS s,
            abs(hashint8extended(i, 2) %% %(name_count)s)::int AS nm,
            abs(hashint8extended(i, 3) %% %(version_count)s)::int AS ver,
            abs(hashint8extended(i, 4) %% %(devices)s) AS dev,
            (i - 1) / %(block)s AS block,
            now() - interval '7 days' + interval '7 days' * i / %(n)s AS at
        FROM generate_series(1::bigint, %(n)s) AS i
    ) AS raw
) AS e
"""


@dataclass
class Row:
    """What one page measured."""

    page: Page
    times: list[float] = field(default_factory=list)
    queries: int = 0
    statements: list[tuple[str, Any]] = field(default_factory=list)
    returned: int | None = None
    note: str = ""
    seq_scan: bool = False
    rows_examined: int = 0
    explains: list[Explained] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


@dataclass
class Explained:
    """One statement's plan: a summary line, the text plan, and what it says about `events`."""

    sql: str
    summary: str
    text: str
    seq_scan: bool
    rows_examined: int


class QueryLog:
    """The statements the app sends while recording (a before_cursor_execute listener)."""

    def __init__(self) -> None:
        self.recording = False
        self.statements: list[tuple[str, Any]] = []

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.recording:
            self.statements.append((statement, parameters))


# --- servers, app, data ---------------------------------------------------------------------


def start_servers(work: Path) -> tuple[Server, Server]:
    """PostgreSQL (not durable: a benchmark's data) and Redis, on free ports under `work`."""
    postgres = start_postgres(work / "postgres", free_port(), durable=False)
    try:
        redis_server = start_redis(work / "redis", free_port(), appendonly=False)
    except BaseException:
        postgres.stop()
        raise
    return postgres, redis_server


def build_app(work: Path, postgres: Server, redis_server: Server) -> Flask:
    """The full profile against our servers, with the schema migrated."""
    from app import create_app
    from app.extensions import db

    flask_app = create_app(
        {
            "LVD_PROFILE": "full",
            "DATABASE_URL": postgres.url,
            "REDIS_URL": redis_server.url,
            "LVD_DATA_DIR": str(work / "data"),
            "SECRET_KEY": "pages-benchmark",
        }
    )
    with flask_app.app_context():
        flask_migrate.upgrade()
        db.session.remove()
    return flask_app


def close_app(flask_app: Flask) -> None:
    """Release the app's connections (database pool, Celery, Redis)."""
    from app.extensions import db

    with flask_app.app_context():
        db.session.remove()
        db.engine.dispose()
    flask_app.extensions["celery"].close()
    flask_app.extensions["app_directory"].close()
    client = flask_app.extensions.get("redis")
    if client is not None:
        client.close()


def create_owner_and_apps(flask_app: Flask) -> dict[str, Any]:
    """A verified user owning the big app (with the demo plan) and a small one."""
    from app.services.accounts import users as accounts
    from app.services.apps import create_app_record

    with flask_app.app_context():
        user = accounts.sign_up(EMAIL, PASSWORD)
        accounts.verify_email_now(user)
        big = create_app_record("shop (1M events)", DEMO_PLAN, owner_id=user.id)
        small = create_app_record("side project", DEMO_PLAN, owner_id=user.id)
        return {
            "app": big.app.id,
            "small": small.app.id,
            "keys": {"big": big.read_key, "small": small.read_key},
        }


def load_events(database_url: str, app_id: int, count: int) -> None:
    """`count` events of `app_id` in one INSERT … SELECT."""
    params = {
        "app": app_id,
        "n": count,
        "names": EVENT_NAMES,
        "name_count": len(EVENT_NAMES),
        "versions": list(APP_VERSIONS),
        "version_count": len(APP_VERSIONS),
        "devices": DEVICES,
        "block": RUN_BLOCK,
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(LOAD_SQL, params)


def load_data(postgres: Server, ids: dict[str, Any], count: int) -> None:
    """The big app's events, the small app's, then ANALYZE; prints how long it took."""
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        # Fewer checkpoints during the bulk load (a reload suffices, no restart).
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        conn.execute("SELECT pg_reload_conf()")
    print(f"loading {count:,} events (one INSERT ... SELECT FROM generate_series) ...", flush=True)
    started = time.monotonic()
    load_events(postgres.url, ids["app"], count)
    loaded = time.monotonic() - started
    load_events(postgres.url, ids["small"], SMALL_APP_EVENTS)
    started = time.monotonic()
    with psycopg.connect(postgres.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        size = conn.execute(
            "SELECT pg_size_pretty(pg_table_size('events')), "
            "pg_size_pretty(pg_indexes_size('events')), "
            "(SELECT count(*) FROM pg_indexes WHERE tablename = 'events')"
        ).fetchone()
    analyzed = time.monotonic() - started
    print(
        f"loaded {count:,} events in {loaded:.1f} s ({count / loaded:,.0f} rows/s, "
        f"{size[2]} indexes), "
        f"VACUUM ANALYZE {analyzed:.1f} s; table {size[0]}, indexes {size[1]}",
        flush=True,
    )


def fixture_values(postgres: Server, ids: dict[str, Any], count: int) -> dict[str, Any]:
    """The values PAGES' paths are formatted with."""
    from app.api.cursors import encode_id as encode_cursor

    with psycopg.connect(postgres.url) as conn:
        newest, oldest = conn.execute(
            "SELECT max(id), min(id) FROM events WHERE app_id = %s", (ids["app"],)
        ).fetchone()
        test_run = conn.execute(
            "SELECT test_run FROM events WHERE app_id = %s AND test_run IS NOT NULL "
            "ORDER BY id DESC LIMIT 1 OFFSET %s",
            # A run some way back, not the newest.
            (ids["app"], min(RUN_BLOCK * 20, count // 4)),
        ).fetchone()[0]
    since = datetime.now(UTC) - timedelta(hours=1)
    return {
        "app": ids["app"],
        "small": ids["small"],
        "event_name": "purchase",
        "app_version": APP_VERSIONS[3],
        "device": "device-17",
        "test_run": test_run,
        "recent": newest - 20,
        "newest": newest,
        "middle": encode_cursor((newest + oldest) // 2),
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


# --- aggregation (what the overview reads) --------------------------------------------------

RECOUNT_HOURS = 1  # `batch_process_events(app_id, 1)`, the dashboard's "Recount now"
RECOUNT_RUNS = 5


def fill_aggregates(flask_app: Flask, ids: dict[str, Any]) -> None:
    """Count every stored event into the statistics, as beat's incremental count does (its
    first run only notes the newest id; the second counts up to it); prints how long it took."""
    from app.extensions import db
    from app.services.statistics.aggregates import count_new_events

    with flask_app.app_context():
        count_new_events()
        started = time.monotonic()
        counted = count_new_events()
        took = time.monotonic() - started
        # What autovacuum would do within a minute of so many new rows.
        db.session.execute(text("ANALYZE event_stats, event_minute_stats, violation_stats"))
        db.session.commit()
        db.session.remove()
    print(
        f"counted {counted:,} events into the statistics in {took:.1f} s "
        f"({took / max(counted, 1) * 1e6:.1f} µs per event)",
        flush=True,
    )


def time_recount(flask_app: Flask, log: QueryLog, app_id: int) -> Row:
    """A recount of the last hour of the big app (on demand), timed like a page."""
    from app.extensions import db
    from app.services.statistics.aggregates import recount

    label = f"job: recount last {RECOUNT_HOURS} h (on demand)"
    row = Row(Page(label, "", slow_ms=JOB_SLOW_MS))
    with flask_app.app_context():
        for _ in range(RECOUNT_RUNS):
            log.statements = []
            log.recording = True
            started = time.perf_counter()
            try:
                recount(app_id, RECOUNT_HOURS)
            finally:
                log.recording = False
            row.times.append((time.perf_counter() - started) * 1000)
        db.session.remove()
    row.statements = log.statements
    row.queries = len(row.statements)
    row.note = f"{RECOUNT_RUNS} runs"
    return row


# --- requests -------------------------------------------------------------------------------


def csrf_token(client: FlaskClient, url: str) -> str:
    """The CSRF token of the form on the page at `url` (as tests/web/helpers.py reads it)."""
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    if not match:
        raise RuntimeError(f"no CSRF token on {url}")
    return match.group(1)


def log_in(client: FlaskClient) -> None:
    """Sign the client in with the owner's session cookie."""
    token = csrf_token(client, "/login")
    response = client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302 or "/apps" not in response.headers.get("Location", ""):
        raise RuntimeError(f"login failed: {response.status_code}")


def fetch(client: FlaskClient, log: QueryLog, url: str, headers: dict[str, str]):
    """One request: (ms, response, statements it ran)."""
    log.statements = []
    log.recording = True
    started = time.perf_counter()
    try:
        response = client.get(url, headers=headers)
    finally:
        log.recording = False
    return (time.perf_counter() - started) * 1000, response, log.statements


def returned_count(response) -> int | None:
    """How many events a JSON answer held (a check that a filter matched something)."""
    if response.mimetype != "application/json":
        return None
    body = response.get_json()
    for key in ("events", "failures"):
        if isinstance(body, dict) and key in body:
            return len(body[key])
    return None


def measure(
    page: Page,
    url: str,
    client: FlaskClient,
    log: QueryLog,
    headers: dict[str, str],
    runs: int,
) -> Row:
    """Time `url` `runs` times after two warm-up requests (or follow its cursors)."""
    row = Row(page)
    for _ in range(2):
        _, response, _ = fetch(client, log, url, headers)
    if response.status_code != 200:
        row.note = f"HTTP {response.status_code}"
        if page.optional and response.status_code == 404:
            row.note = "404: not there yet, skipped"
        return row
    if page.follow:
        return follow_cursors(row, url, client, log, headers)
    for _ in range(runs):
        ms, response, statements = fetch(client, log, url, headers)
        row.times.append(ms)
    row.statements = statements
    row.queries = len(statements)
    row.returned = returned_count(response)
    return row


def follow_cursors(
    row: Row, url: str, client: FlaskClient, log: QueryLog, headers: dict[str, str]
) -> Row:
    """Follow next_cursor `row.page.follow` times from the first page, timing each fetch (the
    chain is walked once to warm up, then again timed)."""
    joiner = "&" if "?" in url else "?"
    for timed in (False, True):
        cursor = client.get(url, headers=headers).get_json()["next_cursor"]
        for _ in range(row.page.follow):
            ms, response, statements = fetch(client, log, f"{url}{joiner}cursor={cursor}", headers)
            if response.status_code != 200:
                row.note = f"HTTP {response.status_code} after a cursor"
                return row
            cursor = response.get_json()["next_cursor"]
            if timed:
                row.times.append(ms)
    row.statements = statements
    row.queries = len(statements)
    row.returned = returned_count(response)
    row.note = f"page {row.page.follow + 1} reached"
    return row


# --- EXPLAIN --------------------------------------------------------------------------------

SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan")


def explain(conn: psycopg.Connection, statement: str, parameters: Any) -> Explained:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement the app ran, with its parameters."""
    (plans,) = conn.execute(
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + statement, parameters
    ).fetchone()
    plan_text = "\n".join(
        line for (line,) in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
    )
    top = plans[0]
    nodes: list[str] = []
    seq_scan = False
    examined = 0

    def walk(node: dict[str, Any]) -> None:
        nonlocal seq_scan, examined
        kind = node["Node Type"]
        relation = node.get("Relation Name")
        index = node.get("Index Name")
        label = kind + (f" {index}" if index else "") + (f" on {relation}" if relation else "")
        if relation == "events" or (index or "").startswith("ix_events"):
            loops = node.get("Actual Loops", 1)
            removed = node.get("Rows Removed by Filter", 0) + node.get(
                "Rows Removed by Index Recheck", 0
            )
            if kind != "Bitmap Index Scan":  # its rows are counted again by the heap scan
                examined += (node.get("Actual Rows", 0) + removed) * loops
                label += f" (rows {node.get('Actual Rows', 0) * loops:,}"
                label += f", removed by filter {removed * loops:,})" if removed else ")"
            if kind == "Seq Scan":
                seq_scan = True
        if kind in SCANS or kind in ("Limit", "Sort", "Aggregate", "Gather", "Gather Merge"):
            nodes.append(label)
        for child in node.get("Plans", []):
            walk(child)

    walk(top["Plan"])
    buffers = top["Plan"]
    summary = (
        " <- ".join(nodes)
        + f" | {top['Execution Time']:.2f} ms, buffers hit {buffers.get('Shared Hit Blocks', 0)}"
        + f" read {buffers.get('Shared Read Blocks', 0)}"
    )
    return Explained(statement, summary, plan_text, seq_scan, examined)


EXPLAINED_TABLES = re.compile(r"\bFROM (events|event_stats|violation_stats)\b")


def explain_rows(rows: list[Row], database_url: str) -> None:
    """EXPLAIN the SELECTs of each row that read events or their aggregates; set the row's
    seq-scan flag (events only: the aggregates are small)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        for row in rows:
            for statement, parameters in row.statements:
                is_select = statement.lstrip().upper().startswith("SELECT")
                if not is_select or not EXPLAINED_TABLES.search(statement):
                    continue
                explained = explain(conn, statement, parameters)
                row.explains.append(explained)
                row.seq_scan = row.seq_scan or explained.seq_scan
                row.rows_examined += explained.rows_examined


def one_line(sql: str) -> str:
    """A statement on one line, its column list shortened."""
    sql = " ".join(sql.split())
    return re.sub(r"^SELECT .*? FROM", "SELECT … FROM", sql)


def print_explains(rows: list[Row], verbose: bool) -> None:
    """A summary line per statement; the whole plan for flagged rows (all with --verbose)."""
    print("\nEXPLAIN (ANALYZE, BUFFERS) of the statements that read events or aggregates:")
    for row in rows:
        if not row.explains:
            continue
        marks = flags(row)
        flagged = bool(marks)
        print(f"\n[{row.page.label}] {marks}".rstrip())
        for explained in row.explains:
            print(f"  {one_line(explained.sql)}")
            print(f"    {explained.summary}")
            if flagged or verbose:
                print("    " + explained.text.replace("\n", "\n    "))


def flags(row: Row) -> str:
    """ "SEQ SCAN" and/or "SLOW", or "" for a page that is fine."""
    marks = ["SEQ SCAN"] if row.seq_scan else []
    if row.times and row.median > row.page.slow_ms:
        marks.append("SLOW")
    return " ".join(marks)


def table(rows: list[Row]) -> str:
    """The final table, in Markdown."""
    lines = [
        "| page | median ms | p95 ms | queries | seq scan | events rows examined | note |",
        "|---|---:|---:|---:|---|---:|---|",
    ]
    for row in rows:
        if not row.times:
            lines.append(f"| {row.page.label} | - | - | - | - | - | {row.note} |")
            continue
        notes = [row.note] if row.note else []
        if row.median > row.page.slow_ms:
            notes.append("**SLOW**")
        if row.returned is not None:
            notes.append(f"{row.returned} returned")
        seq = "**SEQ SCAN**" if row.seq_scan else "no"
        lines.append(
            f"| {row.page.label} | {row.median:.1f} | {row.p95:.1f} | {row.queries} | {seq} "
            f"| {row.rows_examined:,} | {'; '.join(notes)} |"
        )
    return "\n".join(lines)


# --- main -----------------------------------------------------------------------------------


def run(work: Path, events: int, runs: int, verbose: bool) -> int:
    """Start, load, time, explain, print; returns the number of flagged pages."""
    from app.extensions import db

    started = time.monotonic()
    postgres, redis_server = start_servers(work)
    flask_app = None
    try:
        with psycopg.connect(postgres.url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version} and Redis on 127.0.0.1, data in {work}", flush=True)
        flask_app = build_app(work, postgres, redis_server)
        ids = create_owner_and_apps(flask_app)
        load_data(postgres, ids, events)
        values = fixture_values(postgres, ids, events)
        fill_aggregates(flask_app, ids)
        log = QueryLog()
        with flask_app.app_context():
            event.listen(db.engine, "before_cursor_execute", log)
        browser = flask_app.test_client()
        log_in(browser)
        api_client = flask_app.test_client()
        rows = []
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(
            f"\ntiming {len(PAGES)} pages, {runs} warm runs each (load average {load}):", flush=True
        )
        for page in PAGES:
            url = page.path.format(**values)
            client = api_client if page.key else browser
            headers = {"Authorization": f"Bearer {ids['keys'][page.key]}"} if page.key else {}
            row = measure(page, url, client, log, headers, runs)
            rows.append(row)
            shown = f"median {row.median:6.1f} ms" if row.times else row.note
            print(f"  {page.label:<40} {shown}", flush=True)
        rows.append(time_recount(flask_app, log, ids["app"]))
        print(f"  {rows[-1].page.label:<40} median {rows[-1].median:6.1f} ms", flush=True)
        with flask_app.app_context():
            event.remove(db.engine, "before_cursor_execute", log)
            db.session.remove()
        explain_rows(rows, postgres.url)
        print_explains(rows, verbose)
    finally:
        if flask_app is not None:
            close_app(flask_app)
        redis_server.stop()
        postgres.stop()
    flagged = [row for row in rows if flags(row)]
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(
        f"\n{events:,} events; {runs} warm runs per page (Flask test client, in-process); "
        f"the job row: {RECOUNT_RUNS} runs. Load average at the end: {load}.\n"
    )
    print(table(rows))
    for row in flagged:
        print(f"{flags(row)}: {row.page.label}")
    print(f"\ndone in {time.monotonic() - started:.0f} s", flush=True)
    return len(flagged)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events of the big app")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per page")
    parser.add_argument("--verbose", action="store_true", help="print every plan in full")
    args = parser.parse_args()
    # `kill` ends us like Ctrl-C does: through the finally blocks that stop the servers.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    work = Path(tempfile.mkdtemp(prefix="lvd-pages-"))
    os.chmod(work, 0o755)  # PostgreSQL runs as its own user when we are root
    try:
        flagged = run(work, args.events, args.runs, args.verbose)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(f"{flagged} page(s) flagged" if flagged else 0)


if __name__ == "__main__":
    main()
