"""The micro profile as `make run` starts it: one process, no servers, events survive a restart."""

from __future__ import annotations

import http.client
import json
import os
import re
import smtplib
import socket
import sqlite3
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from stack.servers import wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN
from tests.support.micro import MicroServer


@pytest.fixture
def micro_server(tmp_path):
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.mark.system
def test_a_port_taken_before_run_py_binds_it_is_traded_for_a_free_one(tmp_path):
    """The tests' own starter: a port free when chosen may be taken by the time run.py binds
    it (another test's connection); it starts again on new ports instead of waiting 60 s."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MicroServer(tmp_path / "data")
        server.port = taken.getsockname()[1]
        server.start()
        try:
            assert server.port != taken.getsockname()[1]
            assert server.url == f"http://127.0.0.1:{server.port}"
            assert request("GET", f"{server.url}/healthz")[0] == 200
        finally:
            server.stop()


def test_make_run_serves_the_demo_app_and_stores_events(micro_server):
    keys = micro_server.keys()
    url = f"{micro_server.url}/api/logs/{keys['write']}"
    status, body = request("POST", url, {"eventName": "user_login", "userId": 123})
    assert status == 202
    assert list(body) == ["event_name", "status", "task_id", "payload_hash", "errors", "message"]
    assert body["status"] == "valid"
    status, bad = request("POST", url, {"eventName": "user_login", "userId": "abc"})
    assert (status, bad["status"]) == (202, "invalid")
    assert bad["errors"][0]["path"] == "/properties/userId"
    assert request("POST", url, {"eventName": "user_login", "userId": 123})[1]["status"] == (
        "duplicate"
    )
    assert request("POST", f"{micro_server.url}/api/logs/nope", {"eventName": "a"})[0] == 401
    assert request("POST", url, raw=b"not json")[0] == 400

    auth = {"Authorization": f"Bearer {keys['read']}"}
    status, task = request(
        "GET", f"{micro_server.url}/api/tasks/{body['task_id']}?wait=10", headers=auth
    )
    assert (status, task["state"]) == (200, "stored")

    # Stop and start again: the events are still there, and so is the demo app's key.
    micro_server.stop()
    micro_server.start()
    assert micro_server.keys() == keys
    status, page = request(
        "GET", f"{micro_server.url}/api/apps/{keys['app_id']}/events", headers=auth
    )
    assert status == 200
    assert {e["task_id"] for e in page["events"]} >= {body["task_id"], bad["task_id"]}


def test_the_admin_command_acts_on_the_running_micro_instance(micro_server, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(DEMO_PLAN))
    created = json.loads(
        micro_server.flask("apps", "create", "shop", "--plan", str(plan_file), "--json")
    )
    assert set(created) == {"id", "name", "write_key", "read_key", "plan_version"}
    url = f"{micro_server.url}/api/logs/{created['write_key']}"
    assert request("POST", url, {"eventName": "checkout"})[1]["status"] == "unplanned"

    plan_file.write_text(json.dumps({**DEMO_PLAN, "events": {"checkout": {"type": "object"}}}))
    assert "plan version 2 published" in micro_server.flask("plan", "set", "shop", str(plan_file))

    def new_plan_applies() -> bool:
        status, body = request("POST", url, {"eventName": "checkout", "n": os.urandom(4).hex()})
        return body["status"] == "valid" and body["errors"] == []

    wait_until(new_plan_applies, 10, "plan version 2 in the running server", interval=0.2)
    assert "shop" in micro_server.flask("apps", "list")


def test_files_in_the_data_folder_are_private(micro_server):
    keys = micro_server.keys()
    url = f"{micro_server.url}/api/logs/{keys['write']}"
    assert request("POST", url, {"eventName": "user_login", "userId": 1})[0] == 202
    # A mail into the sink, as the sign-up code's would be.
    sink = re.findall(r"mail sink: smtp://127.0.0.1:(\d+)", micro_server.log.read_text())[-1]
    with smtplib.SMTP("127.0.0.1", int(sink), timeout=10) as smtp:
        smtp.sendmail("a@example.com", ["b@example.com"], "Subject: code\n\n123456\n")
    data = Path(micro_server.env["LVD_DATA_DIR"])
    wait_until(lambda: list((data / "mail" / "new").iterdir()), 10, "the mail filed")

    names = {p.relative_to(data).as_posix() for p in data.rglob("*")}
    assert {"lvd.sqlite3", "lvd.sqlite3-wal", "demo_app.json", "broker", "mail"} <= names
    assert len([n for n in names if n.startswith("mail/new/")]) == 1
    modes = {name: (data / name).stat().st_mode & 0o777 for name in names}
    modes["."] = data.stat().st_mode & 0o777
    wrong = {n: oct(m) for n, m in modes.items() if m != (0o700 if (data / n).is_dir() else 0o600)}
    assert wrong == {}


# The crash test's load: single events, from concurrent clients, killed after about half.
EVENTS, CLIENTS, KILL_AFTER = 5000, 8, 2500
# Bounds of its waits. On 2 shared cores the micro server answers and stores ~40-80 events a
# second (one process: API and worker share a GIL), so the whole test takes 1-2 minutes.
SENDING_SECONDS, STORING_SECONDS = 200, 120


class Load:
    """Clients that post numbered single events and note which were answered 202."""

    def __init__(self, port: int, write_key: str) -> None:
        self.port, self.path = port, f"/api/logs/{write_key}"
        self.answered: set[str] = set()  # message ids answered 202
        self.unknown: set[str] = set()  # sent, but the connection broke before an answer
        self.other: list[tuple[str, int]] = []  # answered, but not 202
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + SENDING_SECONDS

    def post(self, message_id: str) -> bool:
        """True once the event got an answer or its fate is unknown; False if refused."""
        body = json.dumps({"eventName": "user_login", "userId": 1, "messageId": message_id})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("POST", self.path, body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
        except ConnectionRefusedError:
            return False  # the server is down: the request never reached it
        except (OSError, http.client.HTTPException):
            with self.lock:
                self.unknown.add(message_id)
            return True
        finally:
            connection.close()
        with self.lock:
            if response.status == 202:
                self.answered.add(message_id)
            else:
                self.other.append((message_id, response.status))
        return True

    def client(self, ids: list[str]) -> None:
        for message_id in ids:
            while not self.post(message_id):
                assert time.monotonic() < self.deadline, "the server never came back"
                time.sleep(0.05)


def stored_message_ids(database: Path) -> list[str]:
    """The message id of every stored row (read-only, beside the running server)."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=10)) as db:
        return [row[0] for row in db.execute("SELECT message_id FROM events")]


@pytest.mark.slow
def test_a_killed_server_loses_no_accepted_event(micro_server):
    """kill -9 mid-stream and a restart: every event answered 202 is stored exactly once."""
    load = Load(micro_server.port, micro_server.keys()["write"])
    ids = [f"crash-{i}" for i in range(EVENTS)]
    clients = [
        threading.Thread(target=load.client, args=(ids[n::CLIENTS],), daemon=True)
        for n in range(CLIENTS)
    ]
    for thread in clients:
        thread.start()
    wait_until(lambda: len(load.answered) >= KILL_AFTER, SENDING_SECONDS, f"{KILL_AFTER} answers")
    micro_server.kill()
    answered_before_kill = len(load.answered)
    micro_server.start()
    for thread in clients:
        thread.join(timeout=max(0, load.deadline - time.monotonic()))
        assert not thread.is_alive(), "a client did not finish"

    assert load.other == []
    assert KILL_AFTER <= answered_before_kill < len(load.answered)
    assert len(load.answered) + len(load.unknown) == EVENTS
    database = Path(micro_server.env["LVD_DATA_DIR"]) / "lvd.sqlite3"
    wait_until(
        lambda: load.answered <= set(stored_message_ids(database)),
        STORING_SECONDS,
        "every answered event stored",
        interval=0.5,
    )
    stored = stored_message_ids(database)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert set(stored) <= load.answered | load.unknown
    assert "Unrecoverable error" not in micro_server.log.read_text()
