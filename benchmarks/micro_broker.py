"""Micro's broker options side by side: what one single-event post costs the API, and what
storing it costs the embedded worker.

`.venv/bin/python -m benchmarks.micro_broker [-n 2000]`. Unlike loadtests/, this builds the
micro app in this process (the Flask test client, no sockets), because what it compares is
a setting no server exposes. Per option, with a fresh data folder:
1. N single-event posts with no worker running: the API's time per post (claim + publish);
2. then the embedded worker starts: its time per message until all N events are stored.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app import create_app
from app.extensions import db
from app.micro import ensure_demo_app, new_worker
from app.models import Event

# What each option changes in the Celery settings of the micro app.
OPTIONS: dict[str, Any] = {
    # kombu's own filesystem transport, as micro used it before (torn reads, delete on get).
    "kombu filesystem": lambda data: {"broker_transport": None},
    # ours: write-then-rename, ack by deleting the file (app/micro_broker.py).
    "atomic filesystem (ours)": lambda data: {},
    # kombu's SQLAlchemy transport on its own SQLite file (one on the events' database would
    # share its single writer lock with the worker's inserts). It hands its transport options
    # to create_engine, so it takes none (not even a polling interval: it polls every second).
    "kombu sqla+sqlite": lambda data: {
        "broker_url": f"sqla+sqlite:///{data / 'broker.sqlite3'}",
        "broker_transport": None,
        "broker_transport_options": {},
    },
}


def stored(flask_app: Flask) -> int:
    """Events in the database."""
    with flask_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Event))
        db.session.remove()
        return count


def measure(name: str, n: int) -> tuple[float, float, float, float]:
    """Milliseconds per event of one option: the API's wall and CPU time per post, the worker's
    wall and CPU time per message (CPU: of this whole process; it competes for the machine)."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        flask_app = create_app({"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data)})
        celery_app = flask_app.extensions["celery"]
        celery_app.conf.update(OPTIONS[name](data))
        keys = ensure_demo_app(flask_app)
        client = flask_app.test_client()
        url = f"/api/logs/{keys['write_key']}"
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(n):
            answer = client.post(url, json={"eventName": "user_login", "userId": i})
            assert answer.status_code == 202, answer.get_data(as_text=True)
        api = (time.perf_counter() - started) / n, (time.process_time() - cpu) / n

        worker = new_worker(celery_app)
        thread = threading.Thread(target=worker.start, daemon=True)
        started, cpu = time.perf_counter(), time.process_time()
        thread.start()
        deadline = started + 600
        while stored(flask_app) < n:
            assert time.perf_counter() < deadline, f"{name}: {stored(flask_app)} of {n} stored"
            time.sleep(0.05)
        drain = (time.perf_counter() - started) / n, (time.process_time() - cpu) / n
        worker.stop()
        thread.join(30)
        with flask_app.app_context():
            db.engine.dispose()
        return api[0] * 1000, api[1] * 1000, drain[0] * 1000, drain[1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="single-event posts per option")
    parser.add_argument("--only", choices=list(OPTIONS), help="measure one option")
    args = parser.parse_args()
    print(f"N={args.n}; milliseconds per event          API post      worker message")
    print(f"{'option':<40} {'wall':>6} {'CPU':>6}   {'wall':>6} {'CPU':>6}")
    for name in [args.only] if args.only else OPTIONS:
        figures = measure(name, args.n)
        print(f"{name:<40} {figures[0]:>6.2f} {figures[1]:>6.2f}   ", end="")
        print(f"{figures[2]:>6.2f} {figures[3]:>6.2f}", flush=True)


if __name__ == "__main__":
    main()
