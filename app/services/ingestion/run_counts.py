"""Per test run, how many events were accepted for storage and how many were blocked, counted
when they were admitted, so a run can tell when everything it sent has settled.

Full profile: a Redis hash `run_key(app, run)` with fields `accepted` and `blocked`, counted by
the admission script itself (admission.py) in the request's one round trip, expiring
TEST_RUN_COUNTS_SECONDS after the run's last counted event. Micro: rows of `test_run_counts`,
written in the transaction that takes the dedup claims (and taken back with them when the
message cannot be published). Imports count through `add` in both.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import NamedTuple, Protocol

import redis
from sqlalchemy import delete, select

from app.extensions import db
from app.models import TestRunCount
from app.models.dialect import insert
from app.models.types import utcnow

ACCEPTED, BLOCKED = "accepted", "blocked"


class Counts(NamedTuple):
    """What admission counted of one run."""

    accepted: int
    blocked: int


def run_key(app_id: int, test_run: str) -> str:
    """The Redis hash of a run's counts (run names are binary-safe key material)."""
    return f"lvd:run:{app_id}:{test_run}"


def runs_of(runs: list[str | None]) -> Counter[str]:
    """How many of these events each run has (events without a run left out)."""
    return Counter(run for run in runs if run)


class RunCounts(Protocol):
    """Reads a run's counts, and adds to them outside admission (imports)."""

    def read(self, app_id: int, test_run: str) -> Counts | None:
        """The run's counts, None when nothing of it was counted (or the counts expired)."""

    def add(self, app_id: int, accepted: Counter[str], blocked: Counter[str]) -> None:
        """Add these per-run counts (micro: in the caller's transaction, which commits)."""


class RedisRunCounts:
    """Counts in Redis hashes, kept `ttl` seconds after a run's last count."""

    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self._client, self.ttl = client, ttl

    def read(self, app_id: int, test_run: str) -> Counts | None:
        fields = self._client.hmget(run_key(app_id, test_run), [ACCEPTED, BLOCKED])
        if fields == [None, None]:
            return None
        return Counts(int(fields[0] or 0), int(fields[1] or 0))

    def add(self, app_id: int, accepted: Counter[str], blocked: Counter[str]) -> None:
        pipe = self._client.pipeline(transaction=True)
        for run in accepted.keys() | blocked.keys():
            key = run_key(app_id, run)
            if accepted[run]:
                pipe.hincrby(key, ACCEPTED, accepted[run])
            if blocked[run]:
                pipe.hincrby(key, BLOCKED, blocked[run])
            pipe.expire(key, self.ttl)
        pipe.execute()


class TableRunCounts:
    """Counts as rows of `test_run_counts`, in the caller's transaction; rows not counted for
    `ttl` seconds are pruned when a run is counted again (as Redis would let them expire)."""

    def __init__(self, ttl: int) -> None:
        self.ttl = ttl

    def read(self, app_id: int, test_run: str) -> Counts | None:
        row = db.session.execute(
            select(TestRunCount.accepted, TestRunCount.blocked, TestRunCount.updated_at).where(
                TestRunCount.app_id == app_id, TestRunCount.test_run == test_run
            )
        ).first()
        if row is None or row.updated_at < utcnow() - timedelta(seconds=self.ttl):
            return None
        return Counts(row.accepted, row.blocked)

    def add(self, app_id: int, accepted: Counter[str], blocked: Counter[str]) -> None:
        runs = accepted.keys() | blocked.keys()
        if not runs:
            return
        now = utcnow()
        db.session.execute(
            delete(TestRunCount).where(
                TestRunCount.app_id == app_id,
                TestRunCount.test_run.in_(runs),
                TestRunCount.updated_at < now - timedelta(seconds=self.ttl),
            )
        )
        for run in sorted(runs):
            statement = insert(TestRunCount).values(
                app_id=app_id,
                test_run=run,
                accepted=accepted[run],
                blocked=blocked[run],
                updated_at=now,
            )
            db.session.execute(
                statement.on_conflict_do_update(
                    index_elements=["app_id", "test_run"],
                    set_={
                        "accepted": TestRunCount.accepted + accepted[run],
                        "blocked": TestRunCount.blocked + blocked[run],
                        "updated_at": now,
                    },
                )
            )

    def take_back(self, app_id: int, accepted: Counter[str], blocked: Counter[str]) -> None:
        """Undo an `add` whose events were not queued after all (in the caller's transaction);
        a run left with nothing counted is forgotten, as if never sent."""
        self.add(
            app_id,
            Counter({run: -n for run, n in accepted.items()}),
            Counter({run: -n for run, n in blocked.items()}),
        )
        db.session.execute(
            delete(TestRunCount).where(
                TestRunCount.app_id == app_id,
                TestRunCount.test_run.in_(accepted.keys() | blocked.keys()),
                TestRunCount.accepted == 0,
                TestRunCount.blocked == 0,
            )
        )
