"""The micro profile as `make run` starts it: one process, no servers, events survive a restart."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stack.servers import free_port, wait_until
from tests.e2e.http import request
from tests.helpers import DEMO_PLAN

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


class MicroServer:
    """`python run.py` in the micro profile with its own data folder and port."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data_dir)}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"micro-{self.port}.log"

    def start(self) -> None:
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "run.py"],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**self.env, "PORT": str(self.port)},
            )
        wait_until(lambda: "write key:" in self.log.read_text(), 60, "the micro server")

    def keys(self) -> dict[str, str]:
        text = self.log.read_text()
        return {
            "write": re.search(r"write key: (\S+)", text).group(1),
            "read": re.search(r"read key:\s+(\S+)", text).group(1),
            "app_id": re.search(r"demo app (\d+)", text).group(1),
        }

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop
        self.proc.wait(timeout=30)

    def flask(self, *args: str) -> str:
        """Run the admin command against this instance's data, as a user would."""
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "run", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout


@pytest.fixture
def micro_server(tmp_path):
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
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
