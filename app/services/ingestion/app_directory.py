"""Which app a write key belongs to, with its compiled plan: cached per process.

The ingestion hot path asks this for every request, so it answers from memory. Entries expire
after APP_CACHE_SECONDS; in the full profile every change is also announced on a Redis channel
and each process drops the entries at once (and everything after a reconnect, when it may have
missed an announcement).

Compiling a plan takes up to ~2 s for the largest plan allowed, so it is kept off the request
path where it can be: the process that publishes compiles before announcing (plans/versions.py),
the listener of every other process compiles the announced plans before dropping its entries
(requests go on with the previous version meanwhile), and an entry that merely expired keeps its
compiled plan when the version has not changed. Only a process's first request for an app, with
nothing cached yet, compiles inline.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.extensions import db
from app.models import TrackedApp, TrackingPlan
from app.validation import CompiledPlan, compile_plan

log = logging.getLogger(__name__)
CHANNEL = "lvd:apps-changed"
# Where a session keeps the write keys its transaction changed, until it commits.
CHANGED_KEYS = "lvd_changed_write_keys"
EMPTY_PLAN = {"events": {}}  # an app without a published plan: every event unplanned


@dataclass(frozen=True)
class AppEntry:
    """What ingestion needs of an app."""

    app_id: int
    plan: CompiledPlan
    pii_policy: str  # warn | fail | off (app/validation/pii.py)


class AppDirectory:
    """Write key → AppEntry, cached; misses (unknown keys) are cached too."""

    def __init__(
        self,
        ttl: float,
        redis_url: str = "",
        app_context: Callable[[], AbstractContextManager[Any]] | None = None,
        client: redis.Redis | None = None,
    ) -> None:
        """`app_context` gives the listener thread the database (the Flask app's context);
        `client` publishes this process's changes (both only with `redis_url`)."""
        self._ttl = ttl
        self._redis_url = redis_url
        self._app_context = app_context
        self._client = client
        self._entries: dict[str, tuple[float, AppEntry | None]] = {}
        self._listener_pid: int | None = None
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        # Bumped by every invalidation: a load that raced one must not cache what it read.
        self._generation = 0

    def lookup(self, write_key: str) -> AppEntry | None:
        """The app of `write_key`, or None when no app has it."""
        if self._redis_url and self._listener_pid != os.getpid():
            self._start_listener()
        cached = self._entries.get(write_key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        generation = self._generation
        try:
            entry = self._load(write_key, cached[1] if cached is not None else None)
        except SQLAlchemyError:
            db.session.rollback()
            if cached is not None:  # the database is away: a stale entry beats refusing events
                return cached[1]
            raise
        if len(self._entries) > 100_000:  # bound memory against floods of random keys
            self._entries.clear()
        if generation == self._generation:
            self._entries[write_key] = (now + self._ttl, entry)
        return entry

    def invalidate(self, write_keys: list[str] | None = None) -> None:
        """Forget these keys (all keys when None)."""
        self._generation += 1
        if write_keys is None:
            self._entries.clear()
        for key in write_keys or ():
            self._entries.pop(key, None)

    def _load(self, write_key: str, previous: AppEntry | None = None) -> AppEntry | None:
        if previous is not None:
            # A version's body never changes: while the app's version is the one compiled,
            # the small read of the version is all an expired entry needs.
            row = db.session.execute(
                select(TrackedApp.id, TrackedApp.plan_version, TrackedApp.pii_policy).where(
                    TrackedApp.write_key == write_key
                )
            ).first()
            if row is not None and (row.id, row.plan_version or 0, row.pii_policy) == (
                previous.app_id,
                previous.plan.version,
                previous.pii_policy,
            ):
                return previous
        row = db.session.execute(
            select(TrackedApp.id, TrackedApp.plan_version, TrackedApp.pii_policy, TrackingPlan.body)
            .outerjoin(
                TrackingPlan,
                (TrackingPlan.app_id == TrackedApp.id)
                & (TrackingPlan.version == TrackedApp.plan_version),
            )
            .where(TrackedApp.write_key == write_key)
        ).first()
        if row is None:
            return None
        body = row.body if row.body is not None else EMPTY_PLAN
        plan = compile_plan(body, version=row.plan_version or 0)
        return AppEntry(app_id=row.id, plan=plan, pii_policy=row.pii_policy)

    def _warm(self, write_keys: list[str]) -> None:
        """Compile the announced apps' plans (listener thread), so requests need not."""
        try:
            with self._app_context():
                for body, version in self._published(write_keys):
                    compile_plan(body, version)  # cached by (plan, version) for the requests
        except Exception:  # the request that needs it will load it and report
            log.exception("could not compile the plan of an announced app")

    @staticmethod
    def _published(write_keys: list[str]) -> list[tuple[dict[str, Any], int]]:
        """(body, version) of the keys' published plans, read in one short transaction."""
        with db.engine.connect() as connection:
            try:
                rows = connection.execute(
                    select(TrackedApp.plan_version, TrackingPlan.body)
                    .outerjoin(
                        TrackingPlan,
                        (TrackingPlan.app_id == TrackedApp.id)
                        & (TrackingPlan.version == TrackedApp.plan_version),
                    )
                    .where(TrackedApp.write_key.in_(write_keys))
                ).all()
            finally:
                # Closed, not pooled: the app may be shutting its pool down meanwhile.
                connection.invalidate()
        return [(row.body or EMPTY_PLAN, row.plan_version or 0) for row in rows]

    def _start_listener(self) -> None:
        # One listener per process; gunicorn forks workers, so check the pid, not a flag.
        self._listener_pid = os.getpid()
        self._entries.clear()
        self._subscribed.clear()
        threading.Thread(target=self._listen, name="app-directory", daemon=True).start()
        # Cache nothing before the subscription is live, or an announcement could slip by.
        # (If Redis is down, go on: entries still expire after the TTL.)
        self._subscribed.wait(timeout=1)

    def close(self) -> None:
        """Stop listening for announcements (within a second)."""
        self._closed.set()

    def _listen(self) -> None:
        client = redis.Redis.from_url(self._redis_url, decode_responses=True)
        while not self._closed.is_set():
            try:
                with client.pubsub() as pubsub:
                    pubsub.subscribe(CHANNEL)
                    while not self._closed.is_set():
                        message = pubsub.get_message(timeout=1.0)
                        if message is None:
                            continue
                        if message["type"] == "subscribe":
                            # Whatever was cached before the subscription was live may have
                            # missed an announcement (first start, or a reconnect).
                            self.invalidate()
                            self._subscribed.set()
                        elif message["type"] == "message":
                            keys = json.loads(message["data"])
                            self._warm(keys)
                            self.invalidate(keys)
            except (redis.RedisError, ValueError) as exc:
                log.warning("app directory listener lost Redis (%s); retrying", exc)
                self._closed.wait(1)
        client.close()

    def announce_change(self, write_keys: list[str]) -> None:
        """Tell every process that these keys changed (their app, plan or existence)."""
        self.invalidate(write_keys)
        if self._client is not None:
            try:
                self._client.publish(CHANNEL, json.dumps(write_keys))
            except redis.RedisError:
                # The change is committed; other processes pick it up when their cache expires.
                log.warning("could not announce app change; caches expire within their TTL")


def note_change(session: Session, write_keys: list[str]) -> None:
    """Record that this transaction changes these keys' apps; once it commits, the wiring
    (app/__init__.py) announces them through the app's directory (`announce_change`)."""
    session.info.setdefault(CHANGED_KEYS, []).extend(write_keys)


def take_changes(session: Session) -> list[str]:
    """The keys noted by the transaction that ended, forgotten here."""
    return session.info.pop(CHANGED_KEYS, [])
