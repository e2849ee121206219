"""`make loadtest`: the original design's promise, proven with Locust against the full profile.

Starts the full profile (as `make up` does), creates three apps on the demo plan, runs the
SDK-like Locust users headless for a bounded time, writes CSV and HTML reports under
var/loadtest/, then checks the thresholds and that every accepted event was stored. Exits
non-zero when a threshold fails. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from stack import __main__ as stack

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
REPORTS = ROOT / "var" / "loadtest"


def create_app(name: str) -> str:
    out = subprocess.run(
        [str(BIN / "flask"), "--app", "run", "apps", "create", name, "--template", "demo"]
        + ["--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)["write_key"]


def aggregated(stats_csv: Path) -> dict[str, str]:
    with open(stats_csv) as f:
        return next(row for row in csv.DictReader(f) if row["Name"] == "Aggregated")


def stored_count(task_ids: list[str]) -> int:
    with psycopg.connect(stack.read_settings()["DATABASE_URL"]) as conn:
        return conn.execute(
            "SELECT count(*) FROM events WHERE task_id = ANY(%s)", (task_ids,)
        ).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-time", default="2m")
    parser.add_argument("--users", type=int, default=12, help="each sends ~1 request/s")
    parser.add_argument("--min-per-minute", type=float, default=500)
    parser.add_argument("--max-p95-ms", type=float, default=50)
    args = parser.parse_args()
    if stack.PIDS_FILE.exists():
        sys.exit("the full profile is up: run `make down` first (the load test starts its own)")
    REPORTS.mkdir(parents=True, exist_ok=True)
    accepted_file = REPORTS / "accepted.json"
    stack.up()
    try:
        keys = [create_app(f"loadtest-{os.urandom(3).hex()}") for _ in range(3)]
        env = {
            **os.environ,
            "LVD_WRITE_KEYS": ",".join(keys),
            "LVD_ACCEPTED_FILE": str(accepted_file),
            "LVD_USER_PAUSE": "1",
        }
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "loadtests" / "locustfile.py"),
                "--headless",
                "--users",
                str(args.users),
                "--spawn-rate",
                "4",
                "--run-time",
                args.run_time,
                "--host",
                f"http://127.0.0.1:{stack.NGINX_PORT}",
                "--csv",
                str(REPORTS / "locust"),
                "--html",
                str(REPORTS / "report.html"),
                "--only-summary",
            ],
            cwd=ROOT,
            env=env,
            check=False,  # judged below, from its reports
        )
        stats = aggregated(REPORTS / "locust_stats.csv")
        accepted = json.loads(accepted_file.read_text())
        deadline = time.monotonic() + 120
        while (stored := stored_count(accepted)) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stack.down()
    per_minute = float(stats["Requests/s"]) * 60
    p95 = float(stats["95%"])
    failures = int(stats["Failure Count"])
    checks = [
        (f"{per_minute:,.0f} requests/min sustained", per_minute >= args.min_per_minute),
        (f"p95 {p95:.0f} ms", p95 < args.max_p95_ms),
        (f"{failures} failures of {int(stats['Request Count']):,} requests", failures == 0),
        (f"accepted {len(accepted):,} == stored {stored:,}", stored == len(accepted)),
    ]
    for text, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {text}")
    print(f"reports: {REPORTS}/locust_stats.csv, {REPORTS}/report.html")
    if not all(ok for _, ok in checks):
        sys.exit(1)


if __name__ == "__main__":
    main()
