"""The micro profile as a user starts it: `python run.py` in a process of its own."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from stack.servers import BIN, ROOT, free_port, spawn, wait_until

# What the micro profile prints on its console for a mailed code.
CODE_LINE = r"mail to {email}: your {what} code is (\d{{6}})"


class MicroServer:
    """`python run.py` in the micro profile with its own data folder and port."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "LVD_PROFILE": "micro", "LVD_DATA_DIR": str(data_dir)}
        self.port = free_port()
        self.https_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data_dir.parent / f"micro-{self.port}.log"
        self.log.touch()

    def start(self) -> None:
        """Start (again, after a stop or kill: the log goes on) and wait until it serves. A
        port free when it was chosen can be taken before run.py binds it (another test's
        connection): then it starts again on new ports (`url` follows)."""
        for attempt in range(3):
            started_at = self.log.stat().st_size
            # Its own process group (spawn), as `make run` in a terminal.
            self.proc = spawn(
                [sys.executable, "run.py"],
                self.log,
                cwd=ROOT,
                env={**self.env, "PORT": str(self.port), "HTTPS_PORT": str(self.https_port)},
            )
            wait_until(
                lambda at=started_at: (
                    self._printed(b"write key:", at) or self.proc.poll() is not None
                ),
                60,
                "the micro server",
            )
            if self._printed(b"write key:", started_at):
                return
            said = self.log.read_bytes()[started_at:]
            if b"Address already in use" not in said or attempt == 2:
                raise RuntimeError(f"run.py exited ({self.proc.returncode}):\n{said[-3000:]!r}")
            self.port, self.https_port = free_port(), free_port()
            self.url = f"http://127.0.0.1:{self.port}"

    def _printed(self, text: bytes, since: int) -> bool:
        return text in self.log.read_bytes()[since:]

    def keys(self) -> dict[str, str]:
        """The demo app's keys as the last start printed them."""
        text = self.log.read_text()
        return {
            "write": re.findall(r"write key: (\S+)", text)[-1],
            "read": re.findall(r"read key:\s+(\S+)", text)[-1],
            "app_id": re.findall(r"demo app (\d+)", text)[-1],
        }

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # Ctrl-C: a graceful stop
        self.proc.wait(timeout=30)

    def kill(self) -> None:
        """kill -9 of the whole process group: no clean-up of any kind."""
        os.killpg(self.proc.pid, signal.SIGKILL)
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


def console_code(micro: MicroServer, email: str, what: str, seen: int = 0) -> str:
    """The newest code the console printed for `email`, waiting for the (seen+1)th one."""
    pattern = CODE_LINE.format(email=re.escape(email), what=what)
    wait_until(
        lambda: len(re.findall(pattern, micro.log.read_text())) > seen, 30, f"the {what} code"
    )
    return re.findall(pattern, micro.log.read_text())[-1]
