"""Micro's broker folder: messages appear whole, stay on disk until acknowledged, and a file
that is not a message is set aside instead of stopping the consumer."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kombu import Connection

from app.micro_broker import Transport, make_folders, recover


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "broker"
    make_folders(path)
    return path


@pytest.fixture
def connection(folder: Path) -> Iterator[Connection]:
    options = {"data_folder_in": str(folder), "data_folder_out": str(folder)}
    options["control_folder"] = str(folder)
    with Connection("filesystem://", transport=Transport, transport_options=options) as conn:
        yield conn


def queued(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.msg"))


def test_a_message_is_never_visible_half_written(connection, folder):
    # Large messages and a reader that reads each file the moment it shows up: kombu's own
    # transport creates the file first and writes it after, and this reader sees it empty.
    body = {"blob": "x" * 256_000}
    torn: list[str] = []
    done = threading.Event()

    def read_every_new_file() -> None:
        seen: set[str] = set()
        while not done.is_set() or len(seen) < len(queued(folder)):
            for name in os.listdir(folder):
                if name.endswith(".msg") and name not in seen:
                    seen.add(name)
                    try:
                        json.loads((folder / name).read_bytes())
                    except ValueError:
                        torn.append(name)

    reader = threading.Thread(target=read_every_new_file)
    reader.start()
    queue = connection.SimpleQueue("default")
    for _ in range(300):
        queue.put(body)
    done.set()
    reader.join(30)
    assert len(queued(folder)) == 300
    assert torn == []
    assert list((folder / "tmp").iterdir()) == []


def test_a_taken_message_stays_on_disk_until_it_is_acknowledged(connection, folder):
    queue = connection.SimpleQueue("default")
    queue.put({"n": 1})
    message = queue.get(timeout=1)
    assert queued(folder) == []
    assert len(list((folder / "unacked").glob("*.msg"))) == 1

    message.ack()
    assert list((folder / "unacked").iterdir()) == []
    assert queued(folder) == []


def test_a_requeued_message_goes_back_to_its_place(connection, folder):
    queue = connection.SimpleQueue("default")
    queue.put({"n": 1})
    queue.put({"n": 2})
    first = queue.get(timeout=1)
    first.requeue()
    assert len(queued(folder)) == 2
    assert list((folder / "unacked").iterdir()) == []
    again = queue.get(timeout=1)
    assert again.payload == {"n": 1}  # still ahead of the newer one
    again.reject()  # not requeued: gone
    assert len(queued(folder)) == 1
    assert list((folder / "unacked").iterdir()) == []


def test_what_a_killed_consumer_held_comes_back_on_the_next_start(connection, folder):
    queue = connection.SimpleQueue("default")
    queue.put({"n": 1})
    queue.get(timeout=1)  # taken, never acknowledged: the process dies here
    assert queued(folder) == []

    assert recover(folder) == 1
    options = connection.transport_options
    with Connection("filesystem://", transport=Transport, transport_options=options) as fresh:
        assert fresh.SimpleQueue("default").get(timeout=1).payload == {"n": 1}


def test_a_file_that_is_not_a_message_is_set_aside(connection, folder, caplog):
    queue = connection.SimpleQueue("default")
    (folder / f"{0:020d}_torn.default.msg").write_bytes(b'{"body": "eyJ')
    (folder / f"{1:020d}_odd.default.msg").write_bytes(b'{"no": "properties"}')
    queue.put({"n": 1})
    with caplog.at_level(logging.ERROR, logger="app.micro_broker"):
        assert queue.get(timeout=1).payload == {"n": 1}
    assert sorted(p.name for p in (folder / "bad").iterdir()) == [
        f"{0:020d}_torn.default.msg",
        f"{1:020d}_odd.default.msg",
    ]
    assert "is not a message" in caplog.text


def test_messages_and_their_folders_are_private(connection, folder):
    folder.chmod(0o755)  # as an older version left it
    make_folders(folder)
    connection.SimpleQueue("default").put({"n": 1})
    folders = [folder, *(p for p in folder.iterdir() if p.is_dir())]
    assert [p.stat().st_mode & 0o777 for p in folders] == [0o700] * 4
    assert [p.stat().st_mode & 0o777 for p in folder.glob("*.msg")] == [0o600]
