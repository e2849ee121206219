"""The three test tiers, and the guard that keeps each test in its tier (docs/testing.md).

- unit: no database, no server, no process: the code itself (validation, parsing, helpers,
  files). Opening a database file, a TCP connection or starting a process fails the test.
- integration: the app in process against a real database: the micro profile's SQLite file, or
  PostgreSQL and Redis (and in-process servers such as the SMTP sink). Starting any process
  other than Redis or PostgreSQL fails the test.
- system: processes of their own: gunicorn, Celery workers and beat, nginx, `python run.py`,
  chromium, node.

A test's tier follows from the fixtures it uses (SYSTEM_FIXTURES, INTEGRATION_FIXTURES, with the
fixtures they use in turn); a test that starts a process in its own body says so with
`@pytest.mark.system`, and the guard fails it if it does not.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sqlite3.dbapi2
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

TIERS = ("unit", "integration", "system")
# Fixtures that start processes (or a browser, or serve HTTP to other processes).
SYSTEM_FIXTURES = frozenset(
    {
        "gunicorn_url",
        "granian_url",
        "celery_worker",
        "start_proxy",
        "browser",
        "live_micro_server",
        "metered_stack",
        "mail_worker",
        "beat",
        "node_modules",
        "micro_server",
        "micro",
        "stall_server",
        "fresh_micro",
        "one_slot_gunicorn",
        "front_door",
    }
)
# Fixtures that reach a database (PostgreSQL, Redis, the micro profile's SQLite file) or an
# in-process server; any_app picks micro_app or full_app by name, so it is listed itself.
INTEGRATION_FIXTURES = frozenset(
    {"redis_server", "postgres_server", "micro_template", "any_app", "smtp_sink", "http_sink"}
)
# The processes an integration test may start: the servers of its tier.
INTEGRATION_PROGRAMS = frozenset({"redis-server", "postgres", "initdb"})


def tier_of(item: pytest.Item) -> str:
    """The tier of a collected test: an explicit marker, else what its fixtures need."""
    marked = [name for name in TIERS if item.get_closest_marker(name)]
    if marked:
        return max(marked, key=TIERS.index)
    names = set(getattr(item, "fixturenames", ()))
    if names & SYSTEM_FIXTURES:
        return "system"
    if names & INTEGRATION_FIXTURES:
        return "integration"
    return "unit"


class TierViolation(AssertionError):
    """A test did what its tier does not allow."""


@contextmanager
def guarded(tier: str, violations: list[str]) -> Iterator[None]:
    """Refuse, while a unit or integration test runs, what its tier does not allow; each refusal
    is also recorded in `violations`, so that code catching the error cannot hide it."""
    if tier == "system":
        yield
        return
    popen_init = subprocess.Popen.__init__
    sqlite_connect = sqlite3.connect
    connect, connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(what: str) -> None:
        violations.append(what)
        raise TierViolation(f"a {tier} test {what} (its tier: tests/support/tiers.py)")

    def checked_popen(self, args, *more, **kwargs):
        program = os.path.basename(str(args[0] if isinstance(args, list | tuple) else args))
        if tier == "unit" or program not in INTEGRATION_PROGRAMS:
            refuse(f"started a process: {program}")
        popen_init(self, args, *more, **kwargs)

    def check_address(sock: socket.socket, address) -> None:
        # TCP only: a UDP connect sends nothing (it asks which local address would be used).
        tcp = sock.family in (socket.AF_INET, socket.AF_INET6) and sock.type == socket.SOCK_STREAM
        if tier == "unit" and tcp:
            refuse(f"connected to {address}")

    def checked_connect(self, address):
        check_address(self, address)
        return connect(self, address)

    def checked_connect_ex(self, address):
        check_address(self, address)
        return connect_ex(self, address)

    def checked_sqlite_connect(database, *more, **kwargs):
        if tier == "unit" and str(database) not in ("", ":memory:"):
            refuse(f"opened the database {database}")
        return sqlite_connect(database, *more, **kwargs)

    subprocess.Popen.__init__ = checked_popen
    # SQLAlchemy calls sqlite3.dbapi2.connect: the same function under a second name.
    sqlite3.connect = sqlite3.dbapi2.connect = checked_sqlite_connect
    socket.socket.connect, socket.socket.connect_ex = checked_connect, checked_connect_ex
    try:
        yield
    finally:
        subprocess.Popen.__init__ = popen_init
        sqlite3.connect = sqlite3.dbapi2.connect = sqlite_connect
        socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
