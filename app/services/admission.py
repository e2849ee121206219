"""Admission of a request's events: per-key rate limit, queue backlog, and dedup claims.

A dedup claim is the first task id answered for a message id (or payload hash) within the
window; it is atomic, so two racing copies of one message get one task id between them.
The full profile does all three in Redis in ONE round trip (a Lua script); micro keeps claims in
its database and counts requests in memory (it is one process).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DedupClaim
from app.models.types import utcnow

Claim = tuple[str, str]  # (dedup key, task id offered)


class RateLimited(Exception):
    """The write key sent more requests than its limit allows in this window."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


class Backlogged(Exception):
    """The storage queue holds more messages than its limit: refuse new work for now."""


class Admission(Protocol):
    """Decides whether a request's events may be queued, and which are duplicates."""

    def admit(self, app_id: int, write_key: str, claims: list[Claim]) -> list[str | None]:
        """Per claim: None if new (the offered task id owns it now), else the owner's task id.

        Raises RateLimited or Backlogged (then nothing was claimed).
        """

    def release(self, app_id: int, claims: list[Claim]) -> None:
        """Drop claims whose messages were not queued after all."""


# KEYS: rate counter, queue list, dedup keys...; ARGV: rate limit, rate window, backlog limit,
# dedup window, task ids... Limits of 0 are off. Returns {'rate', ttl} | {'backlog'} |
# {'ok', owner-or-'' per claim}.
_ADMIT = """
local limit = tonumber(ARGV[1])
if limit > 0 then
  local count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  if count > limit then return {'rate', redis.call('TTL', KEYS[1])} end
end
local backlog = tonumber(ARGV[3])
if backlog > 0 and redis.call('LLEN', KEYS[2]) >= backlog then return {'backlog'} end
local owners = {'ok'}
for i = 3, #KEYS do
  local owner = redis.call('SET', KEYS[i], ARGV[i + 2], 'NX', 'GET', 'EX', ARGV[4])
  owners[#owners + 1] = owner or ''
end
return owners
"""
# Release a claim only if it is still ours (it may have expired and been taken since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class RedisAdmission:
    """Rate limit, backlog check and dedup claims in one Redis round trip."""

    def __init__(
        self,
        client: redis.Redis,
        dedup_window: int,
        rate_limit: int,
        rate_window: int,
        backlog_limit: int,
        queue: str = "default",
    ) -> None:
        self._client = client
        self._args = [rate_limit, rate_window, backlog_limit, dedup_window]
        self._queue = queue
        self._admit = client.register_script(_ADMIT)
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def _key(app_id: int, dedup_key: str) -> str:
        return f"lvd:dedup:{app_id}:{dedup_key}"

    def admit(self, app_id: int, write_key: str, claims: list[Claim]) -> list[str | None]:
        keys = [f"lvd:rate:{write_key}", self._queue]
        keys += [self._key(app_id, dedup_key) for dedup_key, _ in claims]
        answer = self._admit(keys=keys, args=self._args + [task_id for _, task_id in claims])
        if answer[0] == "rate":
            raise RateLimited(max(1, int(answer[1])))
        if answer[0] == "backlog":
            raise Backlogged()
        return [owner or None for owner in answer[1:]]

    def release(self, app_id: int, claims: list[Claim]) -> None:
        for dedup_key, task_id in claims:
            self._release(keys=[self._key(app_id, dedup_key)], args=[task_id])


class LocalAdmission:
    """Micro: claims as rows of its database, the rate counted in this process."""

    def __init__(self, dedup_window: int, rate_limit: int, rate_window: int) -> None:
        self._window = timedelta(seconds=dedup_window)
        self._rate_limit, self._rate_window = rate_limit, rate_window
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _count_request(self, write_key: str) -> None:
        if self._rate_limit <= 0:
            return
        now = time.monotonic()
        with self._lock:
            start, count = self._counts.get(write_key, (now, 0))
            if now - start >= self._rate_window:
                start, count = now, 0
            self._counts[write_key] = (start, count + 1)
        if count + 1 > self._rate_limit:
            raise RateLimited(max(1, round(start + self._rate_window - now)))

    def admit(self, app_id: int, write_key: str, claims: list[Claim]) -> list[str | None]:
        self._count_request(write_key)
        if not claims:
            return []
        dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
        now = utcnow()
        owners: list[str | None] = []
        for dedup_key, task_id in claims:
            insert = dialect.insert(DedupClaim).values(
                app_id=app_id, dedup_key=dedup_key, task_id=task_id, expires_at=now + self._window
            )
            # Take over an expired claim; keep a live one. One statement, so it is atomic.
            db.session.execute(
                insert.on_conflict_do_update(
                    index_elements=["app_id", "dedup_key"],
                    set_={"task_id": task_id, "expires_at": now + self._window},
                    where=DedupClaim.expires_at <= now,
                )
            )
            owner = db.session.scalar(
                select(DedupClaim.task_id).where(
                    DedupClaim.app_id == app_id, DedupClaim.dedup_key == dedup_key
                )
            )
            owners.append(None if owner == task_id else owner)
        db.session.commit()
        return owners

    def release(self, app_id: int, claims: list[Claim]) -> None:
        for dedup_key, task_id in claims:
            db.session.execute(
                delete(DedupClaim).where(
                    DedupClaim.app_id == app_id,
                    DedupClaim.dedup_key == dedup_key,
                    DedupClaim.task_id == task_id,
                )
            )
        db.session.commit()
