"""What PostgreSQL spends per row on the drain's one statement (app/services/storage/events.py
`store_batches`: COPY the queued JSON arrays into a staging table, INSERT … SELECT from it), and
what the foreign key, the non-unique indexes and reading each column with `->>` cost of it.

Starts its own PostgreSQL (durable, shared_buffers 32MB as in `make up`) in a temporary folder,
migrates it to the newest schema and creates one app, then stores the same batches (100 events
each, as a batch request queues them) once per variant and round, each in a transaction that
is rolled back, so every variant meets the same table. The figure is the wall time of the
statements per row: the client waits while the server works, so it is the server's time.

Run: .venv/bin/python -m benchmarks.store_statement [--events 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from app.models import Event
from app.models.types import UtcDateTime
from app.services.ingestion.stored_event import StoredEvent
from app.services.storage.events import _INSERT_FROM_STAGING, _STORED, _TIME_RANGE
from stack.servers import free_port, start_postgres

ROOT = Path(__file__).resolve().parent.parent
STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS event_batches_staging (batch jsonb) ON COMMIT DELETE ROWS"
)
SECONDARY_INDEXES = sorted(
    index.name for index in Event.__table__.indexes if not index.unique and index.name
)


def _populate_recordset() -> str:
    """The same INSERT, each message read once into a row of `events` (jsonb_populate_recordset)
    instead of one `->>` per column."""

    def column(c) -> str:
        if c.name == "stored_at":
            return "now()"
        if isinstance(c.type, UtcDateTime):
            v = f"r.{c.name}"
            return (
                f"CASE WHEN {v} IS NULL OR {_TIME_RANGE} @> {v} THEN {v} "
                f"ELSE ('out of range: ' || {v}::text)::timestamptz END"
            )
        return f"r.{c.name}"

    return (
        f"WITH new AS (INSERT INTO events ({', '.join(c.name for c in _STORED)}) "
        f"SELECT {', '.join(column(c) for c in _STORED)} "
        "FROM event_batches_staging, jsonb_populate_recordset(NULL::events, batch) AS r "
        "ON CONFLICT (task_id, received_at) DO NOTHING RETURNING received_at) "
        "SELECT received_at, count(*) FROM new GROUP BY received_at"
    )


# name: (statements run first in the transaction, the INSERT)
VARIANTS = {
    "as the drain stores": ((), _INSERT_FROM_STAGING),
    "without the foreign key to apps": (
        ("ALTER TABLE events DROP CONSTRAINT events_app_id_fkey",),
        _INSERT_FROM_STAGING,
    ),
    f"without the {len(SECONDARY_INDEXES)} non-unique indexes": (
        (f"DROP INDEX {', '.join(SECONDARY_INDEXES)}",),
        _INSERT_FROM_STAGING,
    ),
    "jsonb_populate_recordset": ((), _populate_recordset()),
}


def batches(app_id: int, events: int) -> list[str]:
    """JSON arrays of 100 stored messages each, as the admission script queues a batch's."""
    now = datetime.now(UTC)
    out = []
    for start in range(0, events, 100):
        messages = [
            StoredEvent.accept(
                task_id=str(uuid.uuid4()),
                app_id=app_id,
                type="track",
                event_name="user_login",
                status="valid",
                violations=[],
                plan_version=1,
                payload={"eventName": "user_login", "userId": n, "method": "email"},
                payload_hash=uuid.uuid4().hex * 2,
                message_id=f"m-{n}",
                user_id=n,
                anonymous_id=None,
                received_at=now,
                received_iso=now.isoformat(),
                sent_at=None,
                client_time=None,
                context={"app": {"version": "1.0"}, "os": {"name": "iOS"}},
                test_run=None,
            ).to_json()
            for n in range(start, min(events, start + 100))
        ]
        out.append("[" + ",".join(messages) + "]")
    return out


def time_variant(conn: psycopg.Connection, first: tuple[str, ...], insert: str, data: list[str]):
    """Microseconds per row of storing `data` (20 batches per statement, as a drain's read
    holds about), in a transaction rolled back afterwards."""
    with conn.cursor() as cursor:
        cursor.execute(STAGING)
        for statement in first:
            cursor.execute(statement)
        stored = 0
        started = time.perf_counter()
        for i in range(0, len(data), 20):
            with cursor.copy("COPY event_batches_staging (batch) FROM STDIN") as copy:
                for batch in data[i : i + 20]:
                    copy.write_row((batch,))
            cursor.execute(insert)
            stored += sum(count for _, count in cursor.fetchall())
            cursor.execute("TRUNCATE event_batches_staging")
        elapsed = time.perf_counter() - started
    conn.rollback()
    return 1e6 * elapsed / stored, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lvd-store-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user
        postgres = start_postgres(work / "postgres", free_port(), shared_buffers="32MB")
        try:
            env = {
                **os.environ,
                "LVD_PROFILE": "full",
                "DATABASE_URL": postgres.url.replace("postgresql://", "postgresql+psycopg://"),
                "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached
                "LVD_DATA_DIR": str(work / "app"),
                "SECRET_KEY": "store-statement-benchmark",
            }

            def flask(*words: str) -> str:
                return subprocess.run(
                    [str(Path(sys.executable).parent / "flask"), "--app", "run", *words],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout

            flask("db", "upgrade")
            app_id = json.loads(flask("apps", "create", "store", "--json"))["id"]
            data = batches(app_id, args.events)
            with psycopg.connect(postgres.url) as conn:
                for round_ in range(1, args.rounds + 1):
                    for name, (first, insert) in VARIANTS.items():
                        per_row, stored = time_variant(conn, first, insert, data)
                        print(f"round {round_}  {name:36s} {per_row:6.1f} µs/row ({stored} rows)")
        finally:
            postgres.stop()


if __name__ == "__main__":
    main()
