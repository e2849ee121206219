"""`make faults`: the full profile under a steady stream of events, one fault at a time.

For each fault it prints one row: events sent, answered 2xx, answered 503, stored, stored twice,
dead-lettered and lost (accepted but neither stored nor dead-lettered). Loopback only, bounded
in time; it starts the full profile itself (`make up`) and stops it afterwards (`make down`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

import celery_config
from stack import __main__ as stack
from stack.servers import start_postgres, start_redis, stop_process_group, wait_until

API = f"http://127.0.0.1:{stack.API_PORT}"
RATE_PER_SENDER = 25  # events per second per sender thread
SENDERS = 4
HANG_SECONDS = 1.0
# The worker that stores events: the one of the default queue, where events are routed.
EVENTS_WORKER = f"worker-{celery_config.task_default_queue}"


@dataclass
class Tally:
    """What the stream saw during one phase."""

    sent: int = 0
    accepted: dict[str, str] = field(default_factory=dict)  # messageId → task id
    unavailable: int = 0
    other: dict[int, int] = field(default_factory=dict)  # other statuses (0: no answer)
    slow: int = 0  # answers that took longer than HANG_SECONDS
    lock: threading.Lock = field(default_factory=threading.Lock)


def count_answer(tally: Tally, message_id: str, status: int, answer: dict, took: float) -> None:
    """Count one answer: a 2xx accepts the event under the task id it was given."""
    with tally.lock:
        tally.sent += 1
        tally.slow += took > HANG_SECONDS
        if 200 <= status < 300:
            tally.accepted[message_id] = answer["task_id"]
        elif status == 503:
            tally.unavailable += 1
        else:
            tally.other[status] = tally.other.get(status, 0) + 1


def stream_event(name: str, run: str) -> tuple[str, dict]:
    """A new event of a stream's test run, with its messageId (how it is found once stored)."""
    message_id = str(uuid.uuid4())
    return message_id, {
        "eventName": name,
        "messageId": message_id,
        "n": 1,
        "context": {"testRun": run},
    }


class Senders:
    """Threads running `_send` from the start of a `with` block until its end (`_stop` set)."""

    def __init__(self, threads: int) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._send, daemon=True) for _ in range(threads)]

    def __enter__(self) -> Senders:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _send(self) -> None:
        raise NotImplementedError


class Stream(Senders):
    """Sender threads posting events of one test run at a steady rate."""

    def __init__(self, write_key: str, run: str) -> None:
        self.write_key, self.run = write_key, run
        self.tally = Tally()
        super().__init__(SENDERS)

    def _send(self) -> None:
        while not self._stop.is_set():
            message_id, event = stream_event("fault_stream", self.run)
            started = time.monotonic()
            status, body = post(f"/api/logs/{self.write_key}", event)
            took = time.monotonic() - started
            count_answer(self.tally, message_id, status, body, took)
            self._stop.wait(max(0.0, 1 / RATE_PER_SENDER - took))


def post(path: str, body: dict) -> tuple[int, dict]:
    """(status, JSON body) of a POST to the API; status 0 when nothing answered in time."""
    request = urllib.request.Request(
        API + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, {}
    except OSError:
        return 0, {}


class Faults:
    """The running full profile, and how to hurt it."""

    def __init__(self) -> None:
        self.settings = stack.read_settings()
        self.database_url = self.settings["DATABASE_URL"]
        self.redis_url = self.settings["REDIS_URL"]

    def pids(self) -> dict[str, int]:
        return json.loads(stack.PIDS_FILE.read_text())

    def flask(self, *args: str) -> str:
        result = subprocess.run(
            [str(stack.BIN / "flask"), "--app", "run", *args],
            cwd=stack.ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    def sql(self, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.database_url, connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()

    def worker_children(self) -> list[int]:
        """The pool processes of the `default` worker (children of its main process)."""
        main = self.pids()[EVENTS_WORKER]
        pids = (int(path.parent.name) for path in Path("/proc").glob("[0-9]*/stat"))
        return sorted(pid for pid in pids if _ppid(pid) == main)

    def restart_redis(self) -> None:
        pids = self.pids()
        stop_process_group(pids["redis"], signal.SIGTERM, timeout=30)
        port = int(self.redis_url.rsplit(":", 1)[1].split("/")[0])
        time.sleep(2)  # clients see a real outage
        pids["redis"] = start_redis(stack.FULL / "redis", port).pid
        stack.record_pids(pids)

    def pause_postgres(self, seconds: float) -> None:
        pids = self.pids()
        stop_process_group(pids["postgres"], signal.SIGINT, timeout=30)
        time.sleep(seconds)
        port = int(self.database_url.rsplit(":", 1)[1].split("/")[0])
        pids["postgres"] = start_postgres(stack.FULL / "postgres", port).pid
        stack.record_pids(pids)

    def hold_default_worker(self, paused: bool) -> None:
        os.killpg(self.pids()[EVENTS_WORKER], signal.SIGSTOP if paused else signal.SIGCONT)


def _ppid(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def count(faults: Faults, tally: Tally, run: str) -> dict[str, int]:
    """Stored, stored twice, dead-lettered and lost among what this phase had accepted."""
    task_ids = set(tally.accepted.values())
    stored_rows = faults.sql("SELECT task_id, message_id FROM events WHERE test_run = %s", run)
    stored = {task_id for task_id, _ in stored_rows} & task_ids
    per_message: dict[str, int] = {}
    for _, message_id in stored_rows:
        per_message[message_id] = per_message.get(message_id, 0) + 1
    twice = sum(1 for n in per_message.values() if n > 1)
    dead = {
        row[0]
        for row in faults.sql(
            "SELECT task_id FROM dead_letters WHERE replayed_at IS NULL AND task_id = ANY(%s)",
            list(task_ids),
        )
    }
    return {
        "stored": len(stored),
        "twice": twice,
        "dead": len(dead),
        "lost": len(task_ids - stored - dead),
    }


def settle(faults: Faults, tally: Tally, run: str, timeout: float = 300) -> dict[str, int]:
    """Wait until every accepted event is stored or dead-lettered (or the timeout passes).

    The timeout exceeds the broker's visibility timeout (180 s): messages a Redis restart
    stranded as unacknowledged come back after it.
    """
    counts: dict[str, int] = {}

    def settled() -> bool:
        counts.update(count(faults, tally, run))
        return counts["lost"] == 0

    try:
        wait_until(settled, timeout, "the queue to drain", interval=1)
    except TimeoutError:
        pass
    return counts


def phase(faults: Faults, write_key: str, name: str, inject) -> dict:
    """Stream for a while, inject the fault mid-stream, stream on, then count."""
    run = f"faults-{name}-{uuid.uuid4().hex[:8]}"
    extra: dict[str, int] = {"sent": 0, "accepted": 0}
    with Stream(write_key, run) as stream:
        time.sleep(3)
        extra.update(inject(run) or {})
        time.sleep(5)
    tally = stream.tally
    counts = settle(faults, tally, run)
    row = {
        "fault": name,
        "sent": tally.sent + extra["sent"],
        "2xx": len(tally.accepted) + extra["accepted"],
        "503": tally.unavailable,
        "other": sum(tally.other.values()),
        "slow": tally.slow,
        **counts,
    }
    for key in ("stored", "twice", "dead", "lost"):
        row[key] += extra.get(key, 0)
    print(f"{name}: {row}", flush=True)
    return row


def main() -> None:
    """Bring the full profile up, run every fault, print the table, bring it down."""
    stack.up()
    try:
        faults = Faults()
        app = json.loads(faults.flask("apps", "create", f"faults-{uuid.uuid4().hex[:6]}", "--json"))
        key = app["write_key"]
        rows = [
            phase(faults, key, "worker SIGKILL x2", lambda run: kill_workers(faults)),
            phase(faults, key, "redis restart", lambda run: faults.restart_redis()),
            phase(faults, key, "postgres down 30s", lambda run: faults.pause_postgres(30)),
            phase(faults, key, "poison event", lambda run: poison(faults, run)),
            phase(faults, key, "duplicate delivery", lambda run: duplicate(faults, key, run)),
        ]
    finally:
        stack.down()
    print_table(rows)
    failed = [r["fault"] for r in rows if r["lost"] or r["twice"]]
    sys.exit(f"FAILED: {', '.join(failed)}" if failed else 0)


def kill_workers(faults: Faults) -> None:
    for _ in range(2):
        children = faults.worker_children()
        if children:
            os.kill(children[0], signal.SIGKILL)
        time.sleep(2)


def poison(faults: Faults, run: str) -> dict[str, int]:
    """An event that fails every time: its app is deleted after the event was accepted."""
    doomed = json.loads(faults.flask("apps", "create", f"doomed-{run}", "--json"))
    faults.hold_default_worker(True)
    try:
        status, body = post(
            f"/api/logs/{doomed['write_key']}", {"eventName": "poison", "context": {"testRun": run}}
        )
        faults.sql("DELETE FROM apps WHERE id = %s RETURNING id", doomed["id"])
    finally:
        faults.hold_default_worker(False)
    task_id = body.get("task_id")
    wait_until(
        lambda: faults.sql("SELECT 1 FROM dead_letters WHERE task_id = %s", task_id),
        60,
        "the poison's dead letter",
        interval=0.5,
    )
    return {"sent": 1, "accepted": int(status == 202), "dead": 1}


def event_stream(client: redis.Redis) -> bytes:
    """The key of the stream accepted events wait in: the one stream in the broker's database
    (Celery's queues are lists), found by looking rather than by importing the app."""
    streams = list(client.scan_iter(_type="stream"))
    if len(streams) != 1:
        raise RuntimeError(f"expected one stream in Redis, found {streams}")
    return streams[0]


def duplicate(faults: Faults, write_key: str, run: str) -> dict[str, int]:
    """The same events delivered twice: their stream entries copied while the worker waits."""
    faults.hold_default_worker(True)
    message_ids = [str(uuid.uuid4()) for _ in range(5)]
    accepted = 0
    try:
        for message_id in message_ids:
            status, _ = post(
                f"/api/logs/{write_key}",
                {"eventName": "dup", "messageId": message_id, "context": {"testRun": run}},
            )
            accepted += status == 202
        with redis.Redis.from_url(faults.redis_url) as client:
            stream = event_stream(client)
            entries = [
                fields
                for _, fields in client.xrange(stream)
                if any(i.encode() in value for i in message_ids for value in fields.values())
            ]
            if not entries:
                raise RuntimeError("no entry waited in the stream to be duplicated")
            for fields in entries:
                client.xadd(stream, fields)  # a second delivery of the very same events
    finally:
        faults.hold_default_worker(False)

    def all_stored() -> bool:
        rows = faults.sql(
            "SELECT count(DISTINCT message_id) FROM events WHERE message_id = ANY(%s)", message_ids
        )
        return rows[0][0] == len(message_ids)

    wait_until(all_stored, 60, "the duplicated events", interval=0.5)
    twice = faults.sql(
        "SELECT count(*) FROM (SELECT message_id FROM events WHERE message_id = "
        "ANY(%s) GROUP BY message_id HAVING count(*) > 1) AS d",
        message_ids,
    )[0][0]
    return {
        "sent": len(message_ids),
        "accepted": accepted,
        "stored": len(message_ids),
        "twice": twice,
    }


def print_table(rows: list[dict]) -> None:
    """The result, one row per fault."""
    columns = [
        ("fault", 20),
        ("sent", 6),
        ("2xx", 6),
        ("503", 6),
        ("other", 6),
        ("slow", 6),
        ("stored", 7),
        ("twice", 6),
        ("dead", 5),
        ("lost", 5),
    ]
    print("\n" + "  ".join(name.rjust(width) for name, width in columns))
    for row in rows:
        print("  ".join(str(row[name]).rjust(width) for name, width in columns))
    print(
        "\nsent: events posted; 2xx: accepted; 503: refused while unavailable; other: any other "
        "status or no answer; slow: answers over 1 s;\nstored twice: rows sharing a messageId; "
        "dead: dead-lettered; lost: accepted but neither stored nor dead-lettered."
    )


if __name__ == "__main__":
    main()
