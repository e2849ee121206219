"""The micro profile's embedded worker: started again when it stops, unhurt by a bad message;
and the files micro keeps secrets in are private."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from app.micro import EmbeddedWorker, ensure_demo_app, read_key_line
from app.private_files import private_sqlite, write_private
from app.services import apps
from stack.servers import wait_until
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import count_events


@pytest.fixture
def embedded(micro_app: Flask) -> Iterator[EmbeddedWorker]:
    worker = EmbeddedWorker(micro_app.extensions["celery"])
    worker.start()
    yield worker
    worker.stop()


def post_event(flask_app: Flask, write_key: str, n: int) -> None:
    answer = flask_app.test_client().post(
        f"/api/logs/{write_key}", json={"eventName": "user_login", "userId": n}
    )
    assert answer.status_code == 202


def test_a_worker_that_stops_unasked_is_started_again(micro_app, embedded, caplog):
    keys = ensure_demo_app(micro_app)
    post_event(micro_app, keys["write_key"], 1)
    wait_until(lambda: count_events(micro_app) == 1, 20, "the first event stored")
    first = embedded.worker

    with caplog.at_level(logging.ERROR, logger="app.micro"):
        first.stop()  # as after an unrecoverable error: the worker's start() returns
        wait_until(lambda: embedded.worker is not first, 20, "a new worker")
    assert embedded.restarts == 1
    assert "the embedded worker stopped; starting a new one (restart 1)" in caplog.text

    post_event(micro_app, keys["write_key"], 2)
    wait_until(lambda: count_events(micro_app) == 2, 20, "the event sent after the restart")


def test_a_file_that_is_not_a_message_does_not_stop_the_worker(micro_app, embedded, caplog):
    broker = Path(micro_app.config["DATA_DIR"]) / "broker"
    keys = ensure_demo_app(micro_app)
    with caplog.at_level(logging.ERROR):
        # What kombu's own transport let a consumer see: a message file cut short.
        (broker / f"{0:020d}_torn.default.msg").write_bytes(b'{"body": "W1tdLCB7fS')
        post_event(micro_app, keys["write_key"], 1)
        wait_until(lambda: count_events(micro_app) == 1, 20, "the event after the torn file")
    assert "Unrecoverable error" not in caplog.text
    assert embedded.restarts == 0
    assert (broker / "bad" / f"{0:020d}_torn.default.msg").exists()


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_the_database_file_is_created_private_and_made_private(tmp_path):
    database = tmp_path / "data" / "lvd.sqlite3"
    private_sqlite(f"sqlite:///{database}")
    assert mode(database) == 0o600

    # Files an older version left readable by others.
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        path.touch()
        path.chmod(0o644)
    private_sqlite(f"sqlite:///{database}")
    assert [mode(database), mode(Path(f"{database}-wal")), mode(Path(f"{database}-shm"))] == [
        0o600
    ] * 3


def test_write_private_makes_an_existing_file_private(tmp_path):
    path = tmp_path / "demo_app.json"
    path.write_text("{}")
    path.chmod(0o644)
    write_private(path, '{"read_key": "secret"}')
    assert (mode(path), path.read_text()) == (0o600, '{"read_key": "secret"}')


def test_a_read_key_rotated_in_the_dashboard_is_never_printed_again(micro_app, tmp_path):
    keys_file = Path(micro_app.config["DATA_DIR"]) / "demo_app.json"
    first = ensure_demo_app(micro_app)
    assert ensure_demo_app(micro_app)["read_key"] == first["read_key"]  # kept while valid
    assert first["read_key"] in read_key_line(micro_app, first["read_key"])

    # The owner rotates it on the app page, as a person would.
    owner = micro_app.test_client()
    sign_up_and_verify(owner, micro_app, "owner@example.com")  # gets the demo app
    app_page = f"/apps/{first['id']}"
    page = submit(owner, app_page, {}, f"{app_page}/rotate-read-key").get_data(as_text=True)
    assert first["read_key"] not in page

    again = ensure_demo_app(micro_app)
    assert again["read_key"] is None
    assert first["read_key"] not in keys_file.read_text()
    line = read_key_line(micro_app, again["read_key"])
    assert "replaced in the dashboard" in line and f"delete {keys_file}" in line

    # Deleting the file, as the line says, prints a fresh key that works.
    keys_file.unlink()
    fresh = ensure_demo_app(micro_app)["read_key"]
    with micro_app.app_context():
        assert apps.app_by_read_key(fresh).id == first["id"]
