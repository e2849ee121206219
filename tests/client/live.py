"""The `lvd` command as a user runs it (a process of its own) against a running service, and
the requests a test sends to that service itself."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from stack.servers import BIN, ROOT
from tests.e2e.http import request


def lvd_command(*args: str, url: str, key: str, timeout: float = 120) -> subprocess.Popen:
    """`lvd ARGS` started with LVD_URL and LVD_READ_KEY set, its output piped."""
    env = {
        **os.environ,
        "LVD_URL": url,
        "LVD_READ_KEY": key,
        # This checkout's client, whichever checkout the venv's editable install points at.
        "PYTHONPATH": str(ROOT / "client"),
    }
    return subprocess.Popen(
        [str(BIN / "lvd"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def lvd(*args: str, url: str, key: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `lvd ARGS` to its end."""
    proc = lvd_command(*args, url=url, key=key)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def send(url: str, write_key: str, run: str, events: list[dict[str, Any]]) -> None:
    """Send native events of a test run, each answered 202."""
    for body in events:
        status, answer = request(
            "POST", f"{url}/api/logs/{write_key}", body, headers={"X-Test-Run": run}
        )
        assert status == 202, answer


def get(url: str, read_key: str, path: str) -> dict[str, Any]:
    status, answer = request("GET", url + path, headers={"Authorization": f"Bearer {read_key}"})
    assert status == 200, answer
    return answer


def write_json(path: Path, document: Any) -> str:
    """Write `document` indented (one key a line, so pointers have distinct lines)."""
    path.write_text(json.dumps(document, indent=2))
    return str(path)
