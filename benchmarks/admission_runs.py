"""What counting a test run's events costs the admission script (app/services/ingestion/
admission.py): the same requests admitted with and without a test run, on a redis-server of its
own, timed as a whole round trip and as Redis's own CPU per call (INFO commandstats).

Run: .venv/bin/python -m benchmarks.admission_runs [requests]
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import redis

from app.services.ingestion.admission import RedisAdmission
from app.services.ingestion.stored_event import StoredEvent
from app.services.ingestion.task_message import TaskMessage
from stack.servers import free_port, start_redis

REQUESTS = 5000
SIZES = (1, 20)  # events per request: one SDK event, a batch


def _event(n: int, run: str | None) -> tuple[str, StoredEvent]:
    now = datetime.now(UTC)
    message = StoredEvent.accept(
        task_id=f"task-{n}",
        app_id=1,
        type="track",
        event_name="user_login",
        status="valid",
        violations=[],
        plan_version=1,
        payload={"eventName": "user_login", "userId": n, "method": "email"},
        payload_hash=f"{n:064x}",
        message_id=None,
        user_id=None,
        anonymous_id=None,
        received_at=now,
        received_iso=now.isoformat(),
        sent_at=None,
        client_time=None,
        context={},
        test_run=run,
    )
    return f"h:{n:064x}", message


def _measure(client: redis.Redis, size: int, run: str | None, requests: int) -> dict:
    client.flushall()
    client.config_resetstat()
    admission = RedisAdmission(client, 3600, 0, 1, 0, TaskMessage("t", "q"), 3600)
    blocked: Counter[str] = Counter()
    times = []
    for i in range(requests):
        events = [_event(i * size + j, run) for j in range(size)]
        start = time.perf_counter()
        admission.admit(1, "key", events, blocked)
        times.append(time.perf_counter() - start)
        if i % 500 == 499:
            client.delete("lvd:events")  # keep the stream small, as a drain would
    stats = client.info("commandstats")
    evalsha = stats.get("cmdstat_evalsha", {})
    return {
        "median_us": statistics.median(times) * 1e6,
        "p99_us": statistics.quantiles(times, n=100)[98] * 1e6,
        "redis_us_per_call": evalsha.get("usec_per_call", 0.0),
    }


def main() -> None:
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else REQUESTS
    folder = Path(tempfile.mkdtemp(prefix="lvd-bench-redis-"))
    server = start_redis(folder, free_port(), appendonly=False)
    try:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        print(f"{requests} requests per row; round trip median/p99, Redis CPU per call")
        for size in SIZES:
            for run in (None, "ci-run-42"):
                row = _measure(client, size, run, requests)
                print(
                    f"{size:>3} event(s), {'with a run   ' if run else 'without a run'}: "
                    f"median {row['median_us']:6.1f} µs, p99 {row['p99_us']:6.1f} µs, "
                    f"Redis {row['redis_us_per_call']:6.1f} µs/call"
                )
        client.close()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
