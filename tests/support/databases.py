"""Each test starts from an empty database, quickly.

PostgreSQL (one server and database per test session, shared with the processes the system
tests start): before each test, only the tables that hold rows or whose id sequence moved are
truncated, so the state is the same as after truncating them all. SQLite (micro profile, a file
per test): the migrations run once per session into a template file, copied for each test.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import flask_migrate
from sqlalchemy import text
from sqlalchemy.orm import Session

from app import create_app
from tests.support.profiles import close_app

# The application's tables (not alembic_version), emptied between tests.
TABLES = (
    "events",
    "dead_letters",
    "dedup_claims",
    "test_run_counts",
    "event_stats",
    "event_version_stats",
    "event_minute_stats",
    "stat_watermarks",
    "job_files",
    "jobs",
    "violation_stats",
    "tracking_plans",
    "apps",
    "email_codes",
    "users",
)
# The micro profile's database file in its data folder (app/config.py).
MICRO_DATABASE = "lvd.sqlite3"

# Tables with a row, and tables owning a sequence that handed out a value since its restart
# (a rolled-back insert leaves no row but moves the sequence; tests expect ids from 1).
_USED = " UNION ".join(
    [f"SELECT '{table}'::text WHERE EXISTS (SELECT FROM {table})" for table in TABLES]
    + [
        """SELECT owner.relname::text FROM pg_depend dep
        JOIN pg_class seq ON seq.oid = dep.objid AND seq.relkind = 'S'
        JOIN pg_class owner ON owner.oid = dep.refobjid
        JOIN pg_sequences s ON s.sequencename = seq.relname AND s.schemaname = current_schema()
        WHERE dep.deptype IN ('a', 'i') AND s.last_value IS NOT NULL"""
    ]
)


def used_tables(session: Session) -> list[str]:
    """The tables a test may have changed: rows in them, or their id sequence moved."""
    return sorted(set(session.scalars(text(_USED))) & set(TABLES))


def empty_tables(session: Session) -> None:
    """Truncate the used tables (restarting their ids); the others are untouched already."""
    used = used_tables(session)
    if used:
        session.execute(text(f"TRUNCATE {', '.join(used)} RESTART IDENTITY CASCADE"))
    session.commit()


def migrate_micro_template(data_dir: Path) -> Path:
    """Migrate a micro-profile database in `data_dir` once; returns the file to copy."""
    app = create_app({"LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data_dir)})
    with app.app_context():
        flask_migrate.upgrade()
    close_app(app)  # the last connection checkpoints the write-ahead log into the file
    template = data_dir / MICRO_DATABASE
    assert not template.with_name(f"{MICRO_DATABASE}-wal").exists(), "WAL not checkpointed"
    return template


def copy_micro_database(template: Path, data_dir: Path) -> None:
    """Give a micro-profile data folder its own copy of the migrated database."""
    data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, data_dir / MICRO_DATABASE)
