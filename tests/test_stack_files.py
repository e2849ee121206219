"""The full profile's folder and the files holding the database password are private: var/full
lists only for its owner, stack.env and postgres/credentials are 0600, also when an older run
left them readable. As root, PostgreSQL (run as `postgres`) must still reach its data inside."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import psycopg
import pytest

from stack.servers import free_port, make_private_folder, start_postgres, write_private


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_private_file_is_0600_also_over_an_old_readable_one(tmp_path):
    fresh, old = tmp_path / "fresh.env", tmp_path / "stack.env"
    old.write_text("DATABASE_URL=old\n")
    old.chmod(0o644)
    for path in (fresh, old):
        write_private(path, "DATABASE_URL=postgresql://lvd:secret@127.0.0.1/lvd\n")
        assert mode(path) == 0o600
        assert "secret" in path.read_text()


def test_the_stack_folder_is_listed_by_its_owner_only(tmp_path):
    folder = tmp_path / "var" / "full"
    folder.mkdir(parents=True)
    folder.chmod(0o755)  # as an older run left it
    make_private_folder(folder)
    assert mode(folder) & 0o077 & ~0o011 == 0  # no read or write for group and others
    assert mode(folder) == (0o711 if os.geteuid() == 0 else 0o700)


@pytest.mark.integration  # starts a PostgreSQL server in its own body
def test_postgres_credentials_are_private_and_the_server_still_starts(service_root):
    full = service_root / "private-full"
    make_private_folder(full)
    creds = full / "postgres" / "credentials"
    server = start_postgres(full / "postgres", free_port(), durable=False)
    try:
        assert mode(creds) == 0o600
    finally:
        server.stop()
    creds.chmod(0o644)  # an older run's file
    server = start_postgres(full / "postgres", free_port(), durable=False)
    try:
        assert mode(creds) == 0o600
        with psycopg.connect(server.url) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    finally:
        server.stop()


@pytest.mark.integration  # starts a PostgreSQL server in its own body
def test_the_full_profiles_postgres_keeps_a_small_page_cache(service_root):
    # `make up` keeps the stack within 1 GiB partly by this (docs/perf/memory.md).
    from stack.__main__ import POSTGRES_SHARED_BUFFERS

    folder = service_root / "small-buffers"
    server = start_postgres(folder, free_port(), shared_buffers=POSTGRES_SHARED_BUFFERS)
    try:
        with psycopg.connect(server.url) as connection:
            shown = connection.execute("SHOW shared_buffers").fetchone()[0]
    finally:
        server.stop()
    assert (POSTGRES_SHARED_BUFFERS, shown) == ("32MB", "32MB")


def test_down_stops_every_process_up_recorded_front_door_first_stores_last():
    # Whatever API_SERVER and API_PROCESSES the stopping shell has: the recorded names decide.
    from stack.__main__ import _stop_rank

    recorded = ["redis", "postgres", "worker-default", "gunicorn-3", "granian", "beat"]
    recorded += ["flower", "nginx", "worker-emails", "gunicorn"]
    order = sorted(recorded, key=_stop_rank)
    assert order[:2] == ["nginx", "flower"]
    assert set(order[2:5]) == {"gunicorn-3", "granian", "gunicorn"}
    assert order[5] == "beat" and set(order[6:8]) == {"worker-default", "worker-emails"}
    assert order[8:] == ["postgres", "redis"]
