"""Column types that behave the same on PostgreSQL and SQLite."""

from datetime import UTC, datetime
from typing import Any

import psycopg
from sqlalchemy import JSON, BigInteger, DateTime, Integer, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (indexable, compact), plain JSON text on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """A timezone-aware UTC datetime, also on SQLite (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware values")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, UTC-aware."""
    return datetime.now(UTC)


class _ReadableTimestamptzLoader(psycopg.adapt.Loader):
    """psycopg's timestamptz loader, except that a time Python cannot hold (year 1 BC, year
    10000: PostgreSQL keeps them) reads as the nearest one it can, so no stored row can make a
    read fail. New rows cannot hold such times (app/services/ingestion/stored_event.py)."""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        self._load = _TIMESTAMPTZ_LOADER(oid, context).load

    def load(self, data: bytes) -> datetime:
        try:
            return self._load(data)
        except psycopg.DataError:
            before_christ = bytes(data).endswith(b" BC") or bytes(data).startswith(b"-")
            return datetime.min.replace(tzinfo=UTC) if before_christ else _LATEST


_LATEST = datetime.max.replace(tzinfo=UTC)
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(
    psycopg.postgres.types["timestamptz"].oid, psycopg.pq.Format.TEXT
)
psycopg.adapters.register_loader("timestamptz", _ReadableTimestamptzLoader)
