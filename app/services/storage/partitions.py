"""PostgreSQL: `events` is partitioned by day of `received_at` (UTC), one table per day in the
schema `event_partitions`, named `events_pYYYYMMDD`, plus `events_default` for any time no day
partition covers. SQLite (micro profile) keeps one plain table; every function here is a no-op
there. docs/partitions.md explains the choice.

Why a DEFAULT partition: an accepted event must never be refused for its time. If beat has not
made the day's partition (it was down for a week, a clock jumped), the row lands in the default
partition and is stored; the next `ensure_partitions` moves such rows into their day's new
partition. No DDL runs on the hot path.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from app.extensions import db
from app.models.dialect import is_postgresql

SCHEMA = "event_partitions"
DEFAULT = "events_default"
AHEAD_DAYS = 7  # partitions made ahead of today: beat can miss a week before the default fills
_NAME = re.compile(r"^events_p(\d{8})$")
# A partition is dropped or made under a brief ACCESS EXCLUSIVE lock on `events`; waiting
# behind a long read would stall every insert queued behind us, so give up and retry later.
LOCK_TIMEOUT = "2s"


def partition_name(day: date) -> str:
    """The name (in SCHEMA) of the partition holding `day`'s events."""
    return f"events_p{day:%Y%m%d}"


def _bound(day: date) -> str:
    return f"'{day.isoformat()} 00:00:00+00'"


def day_partitions() -> dict[date, str]:
    """The day partitions that exist, {day: name}."""
    names = db.session.scalars(
        text(
            "SELECT c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = 'events'::regclass AND n.nspname = :schema"
        ),
        {"schema": SCHEMA},
    ).all()
    found = {}
    for name in names:
        if match := _NAME.match(name):
            found[datetime.strptime(match.group(1), "%Y%m%d").date()] = name
    return found


def ensure_partitions(
    now: datetime, ahead_days: int = AHEAD_DAYS, behind_days: int = 1
) -> list[date]:
    """Make the partitions of `behind_days` days back (yesterday) to `ahead_days` days ahead,
    and of every day that has rows waiting in the default partition (moving them in). Returns
    the days made. Safe beside inserts and itself (each day in its own transaction)."""
    if not is_postgresql():
        return []
    today = now.astimezone(UTC).date()
    wanted = {today + timedelta(days=n) for n in range(-behind_days, ahead_days + 1)}
    waiting = db.session.scalars(
        text(f"SELECT DISTINCT (received_at AT TIME ZONE 'UTC')::date FROM {SCHEMA}.{DEFAULT}")
    ).all()
    db.session.commit()
    existing = day_partitions()
    made = []
    for day in sorted(wanted | set(waiting)):
        if day not in existing and _make(day):
            made.append(day)
    return made


def _make(day: date) -> bool:
    """Make one day's partition, moving in its rows from the default partition; False when
    another session made it first."""
    name = f"{SCHEMA}.{partition_name(day)}"
    bounds = f"FROM ({_bound(day)}) TO ({_bound(day + timedelta(days=1))})"
    in_range = f"received_at >= {_bound(day)} AND received_at < {_bound(day + timedelta(days=1))}"
    try:
        db.session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        # What CREATE … PARTITION OF and ATTACH take anyway, taken first (and of every partition):
        # no lock to upgrade, so no deadlock with an insert, and no row of this day can land in
        # the default partition meanwhile. Inserts wait for this short transaction.
        db.session.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
        if db.session.execute(text(f"SELECT to_regclass('{name}')")).scalar() is not None:
            db.session.rollback()
            return False
        waiting = db.session.execute(
            text(f"SELECT EXISTS (SELECT FROM {SCHEMA}.{DEFAULT} WHERE {in_range})")
        ).scalar()
        if not waiting:
            db.session.execute(text(f"CREATE TABLE {name} PARTITION OF events FOR VALUES {bounds}"))
        else:
            # A new partition may not overlap rows of the default one: move them first.
            db.session.execute(
                text(f"CREATE TABLE {name} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            )
            db.session.execute(
                text(
                    f"WITH moved AS (DELETE FROM {SCHEMA}.{DEFAULT} WHERE {in_range} "
                    f"RETURNING *) INSERT INTO {name} SELECT * FROM moved"
                )
            )
            db.session.execute(
                text(f"ALTER TABLE events ATTACH PARTITION {name} FOR VALUES {bounds}")
            )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return True


def drop_partitions_before(cutoff: datetime) -> tuple[int, int]:
    """Drop the day partitions whose every row is older than `cutoff` (their day ends at or
    before it); returns (partitions dropped, rows they held)."""
    if not is_postgresql():
        return 0, 0
    dropped = rows = 0
    for day, name in sorted(day_partitions().items()):
        end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
        if end > cutoff:
            break
        try:
            db.session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            held = db.session.execute(text(f"SELECT count(*) FROM {SCHEMA}.{name}")).scalar()
            db.session.execute(text(f"DROP TABLE {SCHEMA}.{name}"))
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
        dropped += 1
        rows += held
    return dropped, rows
