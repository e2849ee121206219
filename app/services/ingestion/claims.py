"""Dedup claims: the first task id given for a dedup key within the window owns the key.

Live admission and imports claim through this module alike, so a live copy and an imported copy
of one event are one event: in Redis (full profile) under `claim_key`, by a Lua function that the
admission script runs inside its own round trip; in the `dedup_claims` table (micro profile) by
one INSERT … ON CONFLICT in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import delete, select

from app.extensions import db
from app.models import DedupClaim
from app.models.dialect import insert
from app.models.types import utcnow

Item = tuple[str, str]  # (dedup key, the task id offered for it)

# claim_all(KEYS, first key, ARGV, first task id, count, window): SET each key to its task id
# unless a live claim holds it; per key the owner before the claim ('' where this one took it).
LUA_CLAIM_ALL = """
local function claim_all(keys, first_key, args, first_arg, count, window)
  local owners = {}
  for i = 0, count - 1 do
    owners[i + 1] = redis.call(
      'SET', keys[first_key + i], args[first_arg + i], 'NX', 'GET', 'EX', window) or ''
  end
  return owners
end
"""
# KEYS: dedup keys; ARGV: the window, then the task id offered for each key.
_CLAIM = LUA_CLAIM_ALL + "return claim_all(KEYS, 1, ARGV, 2, #KEYS, ARGV[1])\n"


def claim_key(app_id: int, dedup_key: str) -> str:
    """The Redis key of a dedup claim."""
    return f"lvd:dedup:{app_id}:{dedup_key}"


class Claims(Protocol):
    """Claims dedup keys for task ids."""

    def claim(self, app_id: int, items: list[Item]) -> list[str | None]:
        """Per item: None when its key is its task id's now (claimed by this call or an
        earlier one), else the task id that owns the key."""


class RedisClaims:
    """Claims in Redis, one round trip per call."""

    def __init__(self, client: redis.Redis, window: int) -> None:
        self._window = window
        self._script = client.register_script(_CLAIM)

    def claim(self, app_id: int, items: list[Item]) -> list[str | None]:
        if not items:
            return []
        keys = [claim_key(app_id, key) for key, _ in items]
        owners = self._script(keys=keys, args=[self._window, *(task_id for _, task_id in items)])
        return [
            owner if owner and owner != task_id else None
            for owner, (_, task_id) in zip(owners, items, strict=True)
        ]


class TableClaims:
    """Claims as rows of the database, in the caller's transaction (it commits)."""

    def __init__(self, window: int) -> None:
        self._window = timedelta(seconds=window)

    def claim(
        self, app_id: int, items: list[Item], now: datetime | None = None
    ) -> list[str | None]:
        if not items:
            return []
        now = now or utcnow()
        rows: dict[str, str] = {}  # one row per key, offered for its first item's task id
        for key, task_id in items:
            rows.setdefault(key, task_id)
        statement = insert(DedupClaim).values(
            [
                {
                    "app_id": app_id,
                    "dedup_key": key,
                    "task_id": task_id,
                    "expires_at": now + self._window,
                }
                for key, task_id in rows.items()
            ]
        )
        # Take over an expired claim; keep a live one. One statement, so it is atomic.
        db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["app_id", "dedup_key"],
                set_={
                    "task_id": statement.excluded.task_id,
                    "expires_at": statement.excluded.expires_at,
                },
                where=DedupClaim.expires_at <= now,
            )
        )
        owners = dict(
            db.session.execute(
                select(DedupClaim.dedup_key, DedupClaim.task_id).where(
                    DedupClaim.app_id == app_id, DedupClaim.dedup_key.in_(list(rows))
                )
            ).all()
        )
        return [None if owners.get(key) == task_id else owners.get(key) for key, task_id in items]

    @staticmethod
    def release(app_id: int, items: list[Item]) -> None:
        """Free these keys where these task ids hold them (in the caller's transaction)."""
        for key, task_id in items:
            db.session.execute(
                delete(DedupClaim).where(
                    DedupClaim.app_id == app_id,
                    DedupClaim.dedup_key == key,
                    DedupClaim.task_id == task_id,
                )
            )
