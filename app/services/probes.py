"""Looks at the dependencies in bounded time: database, Redis, queue depths, dead letters.

`/readyz` and the `/metrics` scrape use them. Each look runs in a daemon thread and is waited
for at most PROBE_SECONDS, so a hung server (one that accepts connections but never answers:
PostgreSQL has no read timeout) costs the caller that long and no more; a look still stuck from
an earlier call is not started again, so stuck threads cannot pile up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import redis
from celery import Celery
from flask import Flask
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from app.models import DeadLetter
from app.services.ingestion.event_stream import STREAM
from celery_config import PRIORITY_STEPS

PROBE_SECONDS = 2.0
# kombu's Redis transport keeps a queue's messages of priority N > 0 in the list
# "<queue>\x06\x16<N>" (its default separator; the steps are celery_config.py's, which are
# kombu's defaults too).
KOMBU_PRIORITY_SEP = "\x06\x16"


@dataclass
class Outcome:
    """What one look found: its value, or the error that stopped it; and how long it took."""

    value: Any = None
    error: str | None = None
    ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the look succeeded."""
        return self.error is None


def _describe(exc: BaseException) -> str:
    # One line, without the SQL or the links SQLAlchemy appends.
    detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {detail[0][:200] if detail else ''}".rstrip(": ")


class Prober:
    """Runs looks for one app, remembering which of them are still stuck."""

    def __init__(self) -> None:
        self._in_flight: dict[str, Future] = {}
        self._lock = threading.Lock()

    def run(self, looks: dict[str, Callable[[], Any]], timeout: float = PROBE_SECONDS) -> dict:
        """Run the looks side by side; {name: Outcome} within about `timeout` seconds."""
        started = time.perf_counter()
        futures: dict[str, Future | None] = {}
        for name, look in looks.items():
            with self._lock:
                previous = self._in_flight.get(name)
                if previous is not None and not previous.done():
                    futures[name] = None  # still stuck: do not start another thread
                    continue
                future: Future = Future()
                self._in_flight[name] = future
            threading.Thread(
                target=_run, args=(look, future), name=f"probe-{name}", daemon=True
            ).start()
            futures[name] = future
        outcomes = {}
        deadline = started + timeout
        for name, future in futures.items():
            if future is None:
                outcomes[name] = Outcome(error="the previous check has not returned yet")
                continue
            try:
                value, ms = future.result(max(0.0, deadline - time.perf_counter()))
                outcomes[name] = Outcome(value=value, ms=ms)
            except FutureTimeout:
                outcomes[name] = Outcome(error=f"no answer within {timeout:g}s", ms=timeout * 1000)
            except Exception as exc:
                ms = round((time.perf_counter() - started) * 1000, 2)
                outcomes[name] = Outcome(error=_describe(exc), ms=ms)
        return outcomes


def prober(app: Flask) -> Prober:
    """The app's prober (one per app, so one app's stuck look never blocks another's)."""
    return app.extensions.setdefault("prober", Prober())


def _run(look: Callable[[], Any], future: Future) -> None:
    started = time.perf_counter()
    try:
        value = look()
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result((value, round((time.perf_counter() - started) * 1000, 2)))


def ping_database(engine: Engine) -> None:
    """A round trip to the database."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def ping_redis(client: redis.Redis) -> None:
    """A round trip to Redis."""
    client.ping()


def pending_dead_letters(engine: Engine) -> int:
    """How many dead letters wait for a replay or a discard."""
    query = (
        select(func.count())
        .select_from(DeadLetter)
        .where(DeadLetter.replayed_at.is_(None), DeadLetter.discarded_at.is_(None))
    )
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def redis_queue_depths(
    client: redis.Redis, queues: list[str], transport_options: dict[str, Any]
) -> dict[str, int]:
    """Messages waiting in each Celery queue (all priority levels), and the event stream's
    entries (one per accepted request), in one round trip."""
    steps = transport_options.get("priority_steps", PRIORITY_STEPS)
    sep = transport_options.get("sep", KOMBU_PRIORITY_SEP)
    with client.pipeline(transaction=False) as pipe:
        for queue in queues:
            for step in steps:
                pipe.llen(f"{queue}{sep}{step}" if step else queue)
        pipe.xlen(STREAM)
        counts = pipe.execute()
    depths = {
        queue: sum(counts[i * len(steps) : (i + 1) * len(steps)]) for i, queue in enumerate(queues)
    }
    depths[STREAM] = counts[-1]
    return depths


def folder_queue_depths(folder: Path, queues: list[str]) -> dict[str, int]:
    """Micro: messages waiting in each queue of the broker folder (one file each)."""
    depths = dict.fromkeys(queues, 0)
    for path in folder.glob("*.msg"):
        queue = path.name[: -len(".msg")].rsplit(".", 1)[-1]
        if queue in depths:
            depths[queue] += 1
    return depths


def queue_depth_look(app: Flask) -> Callable[[], dict[str, int]]:
    """The look at `app`'s queue depths: Redis lists and the event stream (full), or the
    broker folder's message files (micro)."""
    celery = app.extensions["celery"]
    queues = [queue.name for queue in celery.conf.task_queues]
    client = app.extensions.get("redis")
    if client is not None:
        options = dict(celery.conf.broker_transport_options or {})
        return partial(redis_queue_depths, client, queues, options)
    return partial(folder_queue_depths, Path(app.config["DATA_DIR"]) / "broker", queues)


def celery_workers(celery_app: Celery, timeout: float = 1.0) -> dict[str, list[str]]:
    """The workers that answered a broadcast within `timeout` seconds, with their queues.

    Celery waits the whole timeout (it cannot know how many workers there are), so this takes
    `timeout` seconds; run it as a look so a hung broker costs no more than that either.
    """
    replies = celery_app.control.inspect(timeout=timeout).active_queues() or {}
    return {
        name: sorted(queue["name"] for queue in queues or [])
        for name, queues in sorted(replies.items())
    }
