"""Dedup claims: the first task id answered for a message id (or payload hash) per app.

A claim is atomic, so two racing copies of one message get one task id between them.
The full profile keeps claims in Redis (no database on the hot path); micro in its database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db
from app.models import DedupClaim
from app.models.types import utcnow

Claim = tuple[str, str]  # (dedup key, task id offered)

# Release a claim only if it is still ours (it may have expired and been taken since).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"


class DedupStore(Protocol):
    """Claims dedup keys for task ids."""

    def claim(self, app_id: int, claims: list[Claim]) -> list[str | None]:
        """Per claim: None if it is new (the offered task id now owns it), else the owner."""

    def release(self, app_id: int, claims: list[Claim]) -> None:
        """Drop claims whose messages were not queued after all."""


class RedisDedup:
    """Claims as Redis keys with the window as TTL: one round trip per request."""

    def __init__(self, client: redis.Redis, window_seconds: int) -> None:
        self._client = client
        self._window = window_seconds
        self._release = client.register_script(_RELEASE)

    @staticmethod
    def _key(app_id: int, dedup_key: str) -> str:
        return f"lvd:dedup:{app_id}:{dedup_key}"

    def claim(self, app_id: int, claims: list[Claim]) -> list[str | None]:
        pipe = self._client.pipeline(transaction=False)
        for dedup_key, task_id in claims:
            # SET NX GET (Redis >= 7): sets if absent, and returns the owner if present.
            pipe.set(self._key(app_id, dedup_key), task_id, nx=True, ex=self._window, get=True)
        return pipe.execute()

    def release(self, app_id: int, claims: list[Claim]) -> None:
        for dedup_key, task_id in claims:
            self._release(keys=[self._key(app_id, dedup_key)], args=[task_id])


class SqlDedup:
    """Claims as rows of the micro profile's database."""

    def __init__(self, window_seconds: int) -> None:
        self._window = timedelta(seconds=window_seconds)

    def claim(self, app_id: int, claims: list[Claim]) -> list[str | None]:
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
