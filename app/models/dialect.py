"""What differs between the two databases the product runs on, in one place: PostgreSQL (the
full profile) and SQLite (micro). Services ask here instead of reading the dialect's name.

Both dialects spell INSERT … ON CONFLICT alike (`on_conflict_do_nothing`, `on_conflict_do_update`,
`excluded`), but SQLAlchemy builds it from each dialect's own `insert`; `insert` picks it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db

POSTGRESQL, SQLITE = "postgresql", "sqlite"


def dialect_name() -> str:
    """The database's dialect, POSTGRESQL or SQLITE; RuntimeError for any other (unsupported)."""
    name = db.engine.dialect.name
    if name not in (POSTGRESQL, SQLITE):
        raise RuntimeError(f"unsupported database: {name}")
    return name


def is_postgresql() -> bool:
    """True on PostgreSQL, False on SQLite."""
    return dialect_name() == POSTGRESQL


def insert(table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` (a model or Table) that can take an ON CONFLICT clause."""
    return (postgresql if is_postgresql() else sqlite).insert(table)
