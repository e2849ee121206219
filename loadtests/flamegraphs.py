"""`make flamegraphs`: where the full profile's CPU goes under single-event load, as flame graphs.

Starts the full profile in a fresh folder (or, with --old REV, that commit's own), posts single
events through nginx with wrk, and meanwhile samples gunicorn's workers and the storage worker
(the drain) with py-spy. Writes docs/perf/<label>-api.svg and <label>-drain.svg.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from loadtests.bench import BIN, ROOT, SINGLE_LUA, checkout_of, old_stack, our_stack, run_wrk
from stack import __main__ as stack

OUT = ROOT / "docs" / "perf"


def record(pid: int, seconds: int, svg: Path) -> subprocess.Popen:
    """py-spy sampling `pid` and its children (100 Hz, threads that hold the GIL only: what
    the process spends CPU on, not where its threads wait) into `svg`."""
    return subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--gil",
            "--rate",
            "100",
            "--duration",
            str(seconds),
            "--nonblocking",
            "--output",
            str(svg),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def profile(stack_, pids: dict[str, int], label: str, seconds: int) -> None:
    run_wrk(stack_.url + stack_.path, SINGLE_LUA, 3, 16)  # warm-up
    spies = [
        # One of the API's processes (their work is alike): since the gunicorn per core, the
        # first gunicorn; before it, the one gunicorn and its workers.
        record(pids["gunicorn"], seconds, OUT / f"{label}-api.svg"),
        record(pids["worker-default"], seconds, OUT / f"{label}-drain.svg"),
    ]
    time.sleep(1)  # py-spy attaches
    result = run_wrk(stack_.url + stack_.path, SINGLE_LUA, seconds, 16)
    for spy in spies:
        spy.wait(timeout=120)
    print(f"{label}: {result['requests'] / seconds:,.0f} requests/s while sampled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--label", default="after")
    parser.add_argument("--old", metavar="REVISION", help="profile this older commit instead")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lvd-flame-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user
        if args.old:
            with checkout_of(args.old, work) as checkout, old_stack(checkout) as (stack_, _):
                pids = json.loads((checkout / "var" / "full" / "pids.json").read_text())
                profile(stack_, pids, args.label, args.seconds)
        else:
            with our_stack(work / "stack") as (stack_, _):
                profile(stack_, json.loads(stack.PIDS_FILE.read_text()), args.label, args.seconds)


if __name__ == "__main__":
    main()
