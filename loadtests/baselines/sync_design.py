"""Baseline S, the synchronous design as lean as it honestly gets: Flask + marshmallow, the
payload's sha256, and one INSERT + COMMIT per request on the worker's own psycopg connection (no
ORM on the hot path). `make bench` serves it with gunicorn sync workers."""

import hashlib
import json
import os
from datetime import UTC, datetime

import psycopg
from flask import Flask

from loadtests.baselines.common import validated_event

app = Flask(__name__)
_connection: psycopg.Connection | None = None


def _conn() -> psycopg.Connection:
    # One connection per worker process, opened after gunicorn forked it; autocommit makes each
    # INSERT its own transaction: one COMMIT per event, as the design stores them.
    global _connection
    if _connection is None or _connection.closed:
        url = os.environ["BENCH_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
        _connection = psycopg.connect(url, autocommit=True)
    return _connection


@app.post("/api/logs/<key>")
def log_event(key: str):
    event, refusal = validated_event()
    if refusal:
        return refusal
    payload = json.dumps(event, separators=(",", ":"))
    _conn().execute(
        "INSERT INTO bench_events (event_name, payload, payload_hash, received_at) "
        "VALUES (%s, %s, %s, %s)",
        (
            event["eventName"],
            payload,
            hashlib.sha256(payload.encode()).hexdigest(),
            datetime.now(UTC),
        ),
    )
    return {"status": "stored"}, 202
