"""The README's quick start, run as written against a fresh micro instance.

The shell blocks (```sh) of the README's "Quick start" section are run in order, each followed
by the ```text block that says what it prints. Replaced the way the README tells the reader to:
http://127.0.0.1:5000 by this instance's address, `<write key>` and `<read key>` by the keys the
instance printed. In the expected text, `…` stands for any text within a line, and a line of
`…` alone for any number of lines. `make run` is `python run.py` after its install step, so the
server is started as tests/e2e/test_micro_profile.py does (own port and data folder) and its
console is compared with the block after `make run`. Signing up is a browser step, covered by
the browser tests.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from stack.servers import wait_until
from tests.e2e.http import request
from tests.support.micro import MicroServer

ROOT = Path(__file__).resolve().parents[2]
README_URL = "http://127.0.0.1:5000"
TASK_ID = re.compile(r'"task_id":"([0-9a-f-]{36})"')


def quick_start_blocks(readme: str) -> list[tuple[str, str | None]]:
    """(shell block, the text block right after it or None) of the Quick start section."""
    section = re.search(r"^## Quick start\n(.*?)(?=^## )", readme, re.S | re.M)
    if section is None:
        raise AssertionError("the README has no '## Quick start' section")
    fences = re.findall(r"^```(\w*)\n(.*?)^```$", section.group(1), re.S | re.M)
    blocks = []
    for i, (lang, body) in enumerate(fences):
        if lang == "sh":
            after = fences[i + 1] if i + 1 < len(fences) else None
            blocks.append((body, after[1] if after and after[0] == "text" else None))
    return blocks


def pattern(expected: str) -> re.Pattern[str]:
    """The expected text as a regular expression (`…`: any text in a line; alone: any lines)."""
    lines = []
    for line in expected.strip().splitlines():
        if line.strip() == "…":
            lines.append(r"(?:[^\n]*\n)*?")
        else:
            lines.append(r"[^\n]*?".join(map(re.escape, line.split("…"))) + r"\n")
    return re.compile("".join(lines))


def test_pattern_reads_ellipses_as_the_readme_means_them():
    assert pattern('{"a":…,"b":2}').fullmatch('{"a":"x,y","b":2}\n')
    assert not pattern('{"a":…,"b":2}').fullmatch('{"a":1,"b":3}\n')
    assert pattern("one\n…\nfour").fullmatch("one\ntwo\nthree\nfour\n")
    assert not pattern("one…").fullmatch("one\ntwo\n")


def test_the_readme_has_runnable_quick_start_blocks():
    blocks = quick_start_blocks((ROOT / "README.md").read_text())
    assert blocks[0][0].strip() == "make run" and blocks[0][1] is not None
    assert len(blocks) >= 4 and all(expected is not None for _, expected in blocks)


@pytest.fixture
def fresh_micro(tmp_path):
    server = MicroServer(tmp_path / "data")
    server.start()
    yield server
    if server.proc.poll() is None:
        server.stop()


def test_the_quick_start_prints_what_the_readme_says(fresh_micro):
    server = fresh_micro
    keys = server.keys()
    replacements = {
        README_URL: server.url,
        "<write key>": keys["write"],
        "<read key>": keys["read"],
    }

    def as_here(text: str) -> str:
        for readme_text, here in replacements.items():
            text = text.replace(readme_text, here)
        return text

    (make_run, console), *steps = quick_start_blocks((ROOT / "README.md").read_text())
    assert make_run.strip() == "make run"
    assert pattern(as_here(console)).search(server.log.read_text()), server.log.read_text()

    variables: list[str] = []  # assignments of earlier blocks: the reader's shell keeps them
    task_ids: list[str] = []
    for commands, expected in steps:
        commands = as_here(commands)
        # The reader looks at the dashboard between steps; the test waits for the same thing:
        # every event accepted so far stored (the README: "within about a second").
        for task_id in task_ids:
            wait_until(lambda t=task_id: stored(server, keys["read"], t), 30, f"task {task_id}")
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", "\n".join([*variables, commands])],
            cwd=ROOT,
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (commands, result.stderr)
        printed = result.stdout.rstrip("\n") + "\n"  # curl ends without a newline
        assert pattern(as_here(expected)).fullmatch(printed), (commands, expected, printed)
        task_ids += TASK_ID.findall(printed)
        variables += [
            line for line in commands.splitlines() if re.fullmatch(r"[A-Z]\w*=\S+", line.strip())
        ]


def stored(server: MicroServer, read_key: str, task_id: str) -> bool:
    """Whether the instance has stored the event of this task id."""
    status, task = request(
        "GET", f"{server.url}/api/tasks/{task_id}", headers={"Authorization": f"Bearer {read_key}"}
    )
    return status == 200 and task["state"] == "stored"
