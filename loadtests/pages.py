"""`make pages`: the dashboard's pages and the read API, timed with 1,000,000 stored events.

Starts its own PostgreSQL and Redis on free ports in a temporary folder, migrates the schema,
creates one verified user owning a big app (one million events, loaded by one INSERT … SELECT
FROM generate_series) and a small one, fills the hourly aggregates for the week, then times
every URL of PAGES and the on-demand recount: median and p95 of warm runs, the SQL statements
each ran, and EXPLAIN (ANALYZE, BUFFERS) of the SELECTs that read events or their aggregates.
A sequential scan of `events` (of a partition of it) reading SEQ_SCAN_ROWS rows or more is
flagged SEQ SCAN, a page slower than SLOW_MS at the median SLOW; the exit status is non-zero
when something is flagged. Everything it started is stopped by PID, also on error, Ctrl-C or
SIGTERM.

Like the other load tests it never imports `app`: it sets the product up through its command
line (`flask --app run db upgrade`, `users create`, `apps create`, `stats …`), serves it with
one gunicorn process on a free port and times each page over HTTP on 127.0.0.1, one request at
a time. It owns its database, so it loads the events with SQL, and learns the statements each
request ran from PostgreSQL's own statement log (`log_statement = 'all'`), then EXPLAINs them.
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

import psycopg
import requests

from loadtests.product_cli import flask_command
from stack import servers
from stack.servers import (
    Server,
    free_port,
    start_postgres,
    start_redis,
    stop_process_group,
)

EMAIL, PASSWORD = "owner@example.com", "correct horse battery"
# Our own connections' name: their statements are left out of what a page ran.
OWN_CONNECTIONS = "lvd-pages"
SLOW_MS = 100.0  # a page slower than this at the median is flagged
# A sequential scan reading this many rows of events is flagged. Smaller ones are the planner's
# right choice: early in the day today's partition holds few rows, and "the last hour" is much
# of it (the recount then reads ~40,000 rows in ~8 ms); a whole day's partition here holds
# ~140,000, so a scan of one for want of an index is still flagged.
SEQ_SCAN_ROWS = 100_000
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
    statements: list[Statement] = field(default_factory=list)
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


@dataclass(frozen=True)
class Statement:
    """One statement the app ran, as PostgreSQL logged it: text with $n placeholders and the
    values as SQL literals ('…' or NULL)."""

    sql: str
    parameters: tuple[str, ...] = ()


# PostgreSQL's stderr log with LOG_PREFIX: one entry per line, its continuation lines start
# with a tab. A statement is logged when it starts, so it is in the file before its answer.
LOG_PREFIX = "LVDLOG %p %a|"
LOG_ENTRY = re.compile(r"^LVDLOG (\d+) ([^|\n]*)\|([A-Z]+):  (.*?)(?=^LVDLOG |\Z)", re.M | re.S)
LOGGED_STATEMENT = re.compile(r"(?:statement|execute [^:]*): (.*)", re.S)
LOGGED_PARAMETER = re.compile(r"\$\d+ = (NULL|'(?:[^']|'')*')")
# Not the app's queries: transaction control and savepoints psycopg sends itself, and the
# empty statement of SQLAlchemy's connection check (pool_pre_ping).
NOT_QUERIES = re.compile(r'(BEGIN|COMMIT|ROLLBACK|(SAVEPOINT|RELEASE) "_pg3_\d+")?;?', re.I)


def parse_statements(log_text: str) -> list[Statement]:
    """The statements in a piece of the log that connections other than ours ran."""
    found: list[Statement] = []
    for _pid, name, level, message in LOG_ENTRY.findall(log_text):
        if name == OWN_CONNECTIONS:
            continue
        message = message.rstrip("\n").replace("\n\t", "\n")
        if level == "LOG" and (match := LOGGED_STATEMENT.fullmatch(message)):
            sql = match.group(1)
            # A write repeated with other values is one executemany, logged once per row.
            repeated = (
                found and found[-1].sql == sql and not sql.lstrip().upper().startswith("SELECT")
            )
            if not NOT_QUERIES.fullmatch(sql.strip()) and not repeated:
                found.append(Statement(sql))
        # "parameters: $1 = '5', …" (PostgreSQL 15 writes it in lower case, 16 capitalised);
        # of a repeated write: the last row's values.
        elif level == "DETAIL" and message.lower().startswith("parameters: ") and found:
            found[-1] = Statement(found[-1].sql, tuple(LOGGED_PARAMETER.findall(message)))
    return found


class StatementLog:
    """What the product's database sessions ran since `mark()`, read from PostgreSQL's log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def since_mark(self) -> list[Statement]:
        with open(self.path, "rb") as log:
            log.seek(self.offset)
            return parse_statements(log.read().decode("utf-8", errors="replace"))


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


def connect(database_url: str, autocommit: bool = False) -> psycopg.Connection:
    """A connection of ours (its statements are not counted as the app's)."""
    return psycopg.connect(database_url, autocommit=autocommit, application_name=OWN_CONNECTIONS)


def log_every_statement(postgres: Server) -> None:
    """Have PostgreSQL log each statement with its parameters (from the next command on)."""
    with connect(postgres.url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET log_statement = 'all'")
        conn.execute(f"ALTER SYSTEM SET log_line_prefix = '{LOG_PREFIX}'")
        conn.execute("SELECT pg_reload_conf()")


def product_environment(work: Path, postgres: Server, redis_server: Server, port: int) -> dict:
    """The full profile against our servers, as the command line and gunicorn read it."""
    return {
        **os.environ,
        "LVD_PROFILE": "full",
        "DATABASE_URL": postgres.url,
        "REDIS_URL": redis_server.url,
        "LVD_DATA_DIR": str(work / "data"),
        "SECRET_KEY": "pages-benchmark",
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
    }


def create_owner_and_apps(env: dict) -> dict[str, Any]:
    """A verified user owning the big app (with the demo plan) and a small one."""
    flask_command({**env, "LVD_USER_PASSWORD": PASSWORD}, "users", "create", EMAIL, "--verified")
    apps = {}
    for label, name in (("big", "shop (1M events)"), ("small", "side project")):
        apps[label] = json.loads(
            flask_command(env, "apps", "create", name, "--template", "demo", "--json")
        )
        flask_command(env, "apps", "set-owner", str(apps[label]["id"]), EMAIL)
    return {
        "app": apps["big"]["id"],
        "small": apps["small"]["id"],
        "keys": {label: new["read_key"] for label, new in apps.items()},
    }


def start_gunicorn(work: Path, env: dict, port: int) -> int:
    """One gunicorn process (the product's settings) on `port`; its PID once it answers."""
    log = work / "gunicorn.log"
    return servers.start_gunicorn({**env, "GUNICORN_WORKERS": "1"}, log, port).pid


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
    with connect(database_url, autocommit=True) as conn:
        conn.execute(LOAD_SQL, params)


def make_partitions(env: dict) -> None:
    """The day partitions of `events` for the loaded week (PostgreSQL partitions by day), made
    by the product's own maintenance command."""
    flask_command(env, "events", "partitions", "--behind-days", "8")


def load_data(postgres: Server, env: dict, ids: dict[str, Any], count: int) -> None:
    """The big app's events, the small app's, then ANALYZE; prints how long it took."""
    with connect(postgres.url, autocommit=True) as conn:
        # Fewer checkpoints during the bulk load (a reload suffices, no restart).
        conn.execute("ALTER SYSTEM SET max_wal_size = '8GB'")
        conn.execute("SELECT pg_reload_conf()")
    make_partitions(env)
    print(f"loading {count:,} events (one INSERT ... SELECT FROM generate_series) ...", flush=True)
    started = time.monotonic()
    load_events(postgres.url, ids["app"], count)
    loaded = time.monotonic() - started
    load_events(postgres.url, ids["small"], SMALL_APP_EVENTS)
    started = time.monotonic()
    with connect(postgres.url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE events")
        size = conn.execute(
            # Summed over the partitions (a plain table is its own only member).
            "SELECT pg_size_pretty(sum(pg_table_size(relid))), "
            "pg_size_pretty(sum(pg_indexes_size(relid))), "
            "(SELECT count(*) FROM pg_indexes WHERE tablename = 'events'), count(*) - 1 "
            "FROM pg_partition_tree('events')"
        ).fetchone()
    analyzed = time.monotonic() - started
    print(
        f"loaded {count:,} events in {loaded:.1f} s ({count / loaded:,.0f} rows/s, "
        f"{size[2]} indexes, {size[3]} partitions), "
        f"VACUUM ANALYZE {analyzed:.1f} s; table {size[0]}, indexes {size[1]}",
        flush=True,
    )


def fixture_values(
    postgres: Server, api: Client, ids: dict[str, Any], count: int
) -> dict[str, Any]:
    """The values PAGES' paths are formatted with."""
    with connect(postgres.url) as conn:
        newest, oldest = conn.execute(
            "SELECT max(id), min(id) FROM events WHERE app_id = %s", (ids["app"],)
        ).fetchone()
        test_run = conn.execute(
            "SELECT test_run FROM events WHERE app_id = %s AND test_run IS NOT NULL "
            "ORDER BY id DESC LIMIT 1 OFFSET %s",
            # A run some way back, not the newest.
            (ids["app"], min(RUN_BLOCK * 20, count // 4)),
        ).fetchone()[0]
        middle_run = conn.execute(
            "SELECT test_run FROM events WHERE app_id = %s AND test_run IS NOT NULL "
            "AND id <= %s ORDER BY id DESC LIMIT 1",
            (ids["app"], (newest + oldest) // 2),
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
        "middle": middle_cursor(api, ids, middle_run),
        "since": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def middle_cursor(api: Client, ids: dict[str, Any], test_run: str) -> str:
    """A cursor about halfway down the big app's events: the one the API gives out after the
    newest event of the test run there (cursors are opaque; only the API makes them)."""
    page = api.get(
        f"{api.base_url}/api/apps/{ids['app']}/events",
        params={"test_run": test_run, "limit": 1},
        headers=read_key_header(ids, "big"),
    )
    page.raise_for_status()
    cursor = page.json()["next_cursor"]
    if not cursor:
        raise RuntimeError(f"test run {test_run} gave no cursor: it has a single event")
    return cursor


def read_key_header(ids: dict[str, Any], key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {ids['keys'][key]}"}


# --- aggregation (what the overview reads) --------------------------------------------------

RECOUNT_HOURS = 1  # `stats recount APP --hours 1`, what the dashboard's "Recount now" runs
RECOUNT_RUNS = 5


def fill_aggregates(env: dict, postgres: Server) -> None:
    """Count every stored event into the statistics, as beat's incremental count does (its
    first run only notes the newest id; the second counts up to it); prints how long it took
    (the command's own time, without starting the process)."""
    flask_command(env, "stats", "count", "--json")
    second = json.loads(flask_command(env, "stats", "count", "--json"))
    counted, took = second["counted"], second["seconds"]
    with connect(postgres.url, autocommit=True) as conn:
        # What autovacuum would do within a minute of so many new rows.
        conn.execute("ANALYZE event_stats, event_minute_stats, violation_stats")
    print(
        f"counted {counted:,} events into the statistics in {took:.1f} s "
        f"({took / max(counted, 1) * 1e6:.1f} µs per event)",
        flush=True,
    )


def time_recount(env: dict, log: StatementLog, app_id: int) -> Row:
    """A recount of the last hour of the big app (on demand), timed like a page: the time the
    command reports for the recount itself, and the statements of its last run."""
    label = f"job: recount last {RECOUNT_HOURS} h (on demand)"
    row = Row(Page(label, "", slow_ms=JOB_SLOW_MS))
    args = ("stats", "recount", str(app_id), "--hours", str(RECOUNT_HOURS), "--json")
    for _ in range(RECOUNT_RUNS):
        log.mark()
        row.times.append(json.loads(flask_command(env, *args))["seconds"] * 1000)
    ran = log.since_mark()
    # The recount's own statements start at its look at the watermark; those before are the
    # command's start (the new connection's set-up, the lookup of the app).
    start = next(i for i, statement in enumerate(ran) if "stat_watermarks" in statement.sql)
    row.statements = ran[start:]
    row.queries = len(row.statements)
    row.note = f"{RECOUNT_RUNS} runs"
    return row


# --- requests -------------------------------------------------------------------------------


class Client(requests.Session):
    """An HTTP session (cookies, keep-alive) with the product on 127.0.0.1:`port`."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.base_url = f"http://127.0.0.1:{port}"


def csrf_token(client: Client, url: str) -> str:
    """The CSRF token of the form on the page at `url` (as tests/dashboard/helpers.py reads it)."""
    page = client.get(client.base_url + url).text
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    if not match:
        raise RuntimeError(f"no CSRF token on {url}")
    return match.group(1)


def log_in(client: Client) -> None:
    """Sign the client in with the owner's session cookie."""
    token = csrf_token(client, "/login")
    response = client.post(
        client.base_url + "/login",
        data={"email": EMAIL, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    if response.status_code != 302 or "/apps" not in response.headers.get("Location", ""):
        raise RuntimeError(f"login failed: {response.status_code}")


def fetch(client: Client, log: StatementLog, url: str, headers: dict[str, str]):
    """One request, redirects not followed: (ms, response, statements it ran)."""
    log.mark()
    started = time.perf_counter()
    response = client.get(client.base_url + url, headers=headers, allow_redirects=False)
    took = (time.perf_counter() - started) * 1000
    return took, response, log.since_mark()


def returned_count(response: requests.Response) -> int | None:
    """How many events a JSON answer held (a check that a filter matched something)."""
    if response.headers.get("Content-Type", "").split(";")[0] != "application/json":
        return None
    body = response.json()
    for key in ("events", "failures"):
        if isinstance(body, dict) and key in body:
            return len(body[key])
    return None


def measure(
    page: Page,
    url: str,
    client: Client,
    log: StatementLog,
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
    row: Row, url: str, client: Client, log: StatementLog, headers: dict[str, str]
) -> Row:
    """Follow next_cursor `row.page.follow` times from the first page, timing each fetch (the
    chain is walked once to warm up, then again timed)."""
    joiner = "&" if "?" in url else "?"
    for timed in (False, True):
        cursor = client.get(client.base_url + url, headers=headers).json()["next_cursor"]
        for _ in range(row.page.follow):
            ms, response, statements = fetch(client, log, f"{url}{joiner}cursor={cursor}", headers)
            if response.status_code != 200:
                row.note = f"HTTP {response.status_code} after a cursor"
                return row
            cursor = response.json()["next_cursor"]
            if timed:
                row.times.append(ms)
    row.statements = statements
    row.queries = len(statements)
    row.returned = returned_count(response)
    row.note = f"page {row.page.follow + 1} reached"
    return row


# --- EXPLAIN --------------------------------------------------------------------------------

SCANS = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Bitmap Index Scan")


def explain(conn: psycopg.Connection, statement: Statement) -> Explained:
    """EXPLAIN (ANALYZE, BUFFERS) of one statement the app ran, with its parameters (prepared
    afresh, so PostgreSQL plans it for these values, as it did for the app)."""
    conn.execute(f"PREPARE lvd_explain AS {statement.sql}")
    try:
        execute = "EXECUTE lvd_explain" + (
            f"({', '.join(statement.parameters)})" if statement.parameters else ""
        )
        (plans,) = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {execute}").fetchone()
        plan_text = "\n".join(
            line for (line,) in conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {execute}")
        )
    finally:
        conn.execute("DEALLOCATE lvd_explain")
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
        # A partition of events (events_pYYYYMMDD, events_default) or one of its indexes.
        if (relation or "").startswith("events") or (index or "").startswith(
            ("ix_events", "events")
        ):
            loops = node.get("Actual Loops", 1)
            removed = node.get("Rows Removed by Filter", 0) + node.get(
                "Rows Removed by Index Recheck", 0
            )
            if kind != "Bitmap Index Scan":  # its rows are counted again by the heap scan
                examined += (node.get("Actual Rows", 0) + removed) * loops
                label += f" (rows {node.get('Actual Rows', 0) * loops:,}"
                label += f", removed by filter {removed * loops:,})" if removed else ")"
            if (
                kind == "Seq Scan"
                and (node.get("Actual Rows", 0) + removed) * loops >= SEQ_SCAN_ROWS
            ):
                seq_scan = True
        shown = ("Limit", "Sort", "Aggregate", "Gather", "Gather Merge", "Append", "Merge Append")
        if kind in SCANS or kind in shown:
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
    return Explained(statement.sql, summary, plan_text, seq_scan, examined)


EXPLAINED_TABLES = re.compile(r"\bFROM (events|event_stats|violation_stats)\b")


def explain_rows(rows: list[Row], database_url: str) -> None:
    """EXPLAIN the SELECTs of each row that read events or their aggregates; set the row's
    seq-scan flag (events only: the aggregates are small)."""
    with connect(database_url, autocommit=True) as conn:
        for row in rows:
            for statement in row.statements:
                is_select = statement.sql.lstrip().upper().startswith("SELECT")
                if not is_select or not EXPLAINED_TABLES.search(statement.sql):
                    continue
                explained = explain(conn, statement)
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
    started = time.monotonic()
    postgres, redis_server = start_servers(work)
    gunicorn = None
    try:
        with connect(postgres.url) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        print(f"PostgreSQL {version} and Redis on 127.0.0.1, data in {work}", flush=True)
        port = free_port()
        env = product_environment(work, postgres, redis_server, port)
        flask_command(env, "db", "upgrade")
        ids = create_owner_and_apps(env)
        load_data(postgres, env, ids, events)
        fill_aggregates(env, postgres)
        # From here on, before gunicorn's first connection: every statement it runs is logged.
        log_every_statement(postgres)
        log = StatementLog(work / "postgres" / "postgres.log")
        gunicorn = start_gunicorn(work, env, port)
        browser, api_client = Client(port), Client(port)
        values = fixture_values(postgres, api_client, ids, events)
        log_in(browser)
        rows = []
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(
            f"\ntiming {len(PAGES)} pages, {runs} warm runs each (load average {load}):", flush=True
        )
        for page in PAGES:
            url = page.path.format(**values)
            client = api_client if page.key else browser
            headers = read_key_header(ids, page.key) if page.key else {}
            row = measure(page, url, client, log, headers, runs)
            rows.append(row)
            shown = f"median {row.median:6.1f} ms" if row.times else row.note
            print(f"  {page.label:<40} {shown}", flush=True)
        rows.append(time_recount(env, log, ids["app"]))
        print(f"  {rows[-1].page.label:<40} median {rows[-1].median:6.1f} ms", flush=True)
        explain_rows(rows, postgres.url)
        print_explains(rows, verbose)
    finally:
        if gunicorn is not None:
            stop_process_group(gunicorn)
        redis_server.stop()
        postgres.stop()
    flagged = [row for row in rows if flags(row)]
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(
        f"\n{events:,} events; {runs} warm runs per page (HTTP to one gunicorn process on "
        f"127.0.0.1); the job row: {RECOUNT_RUNS} runs of `flask --app run stats recount`, "
        f"the time it reports. Load average at the end: {load}.\n"
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
