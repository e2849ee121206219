"""Peak memory of the full profile under batches of 100, per process, for checkouts side by side.

`make bench` reports one number, the peak of the sum of PSS of the whole stack; this says where
it goes. For each checkout given (default: this one), in turn and alternating `--rounds` times:
Redis and PostgreSQL as `make up` starts them, gunicorn, one Celery worker per queue, beat and
Flower, each from that checkout with its own commands (start_celery_worker.sh, its beat and
Flower app), on free ports; then wrk posts batches of 100 events straight to gunicorn (nginx's
~4 MiB left out) and the run waits until every accepted event is stored. Sampled twice a second:
the sum of PSS of every process (bench.py's figure), each role's own PSS, and Redis's
used_memory and stream length.

    .venv/bin/python -m loadtests.memory --checkout ../../main --checkout .
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import redis

from celery_config import QUEUES
from loadtests.bench import BATCH_LUA, _processes, run_wrk
from stack.servers import (
    BIN,
    free_port,
    spawn,
    start_postgres,
    start_redis,
    stop_process_group,
    wait_until,
)

STREAM = "lvd:events"  # app/services/ingestion/event_stream.py (loadtests never import app)
MIB = 2**20


@dataclass
class Peaks:
    """What the sampler saw in one run."""

    total: float = 0.0  # peak of the sum of PSS, MiB
    at_total: dict[str, float] = field(default_factory=dict)  # each role at that moment
    role: dict[str, float] = field(default_factory=dict)  # each role's own peak
    redis_used: float = 0.0  # peak used_memory, MiB
    stream_len: int = 0  # peak XLEN (entries waiting)
    cpu: dict[int, float] = field(default_factory=dict)  # CPU seconds by PID, last seen


class RoleSampler:
    """PSS per role (a process tree each) and Redis's figures, twice a second."""

    def __init__(self, roles: dict[str, int], redis_url: str) -> None:
        self.roles, self.peaks = roles, Peaks()
        self._redis = redis.Redis.from_url(redis_url)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        now: dict[str, float] = {}
        for role, pid in self.roles.items():
            total = 0
            for proc in _processes([pid]):
                try:
                    total += proc.memory_full_info().pss
                    times = proc.cpu_times()
                    self.peaks.cpu[proc.pid] = times.user + times.system
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
            now[role] = total / MIB
        peaks = self.peaks
        for role, mib in now.items():
            peaks.role[role] = max(peaks.role.get(role, 0.0), mib)
        if sum(now.values()) > peaks.total:
            peaks.total, peaks.at_total = sum(now.values()), now
        peaks.redis_used = max(peaks.redis_used, self._redis.info("memory")["used_memory"] / MIB)
        peaks.stream_len = max(peaks.stream_len, self._redis.xlen(STREAM))

    @property
    def cpu_seconds(self) -> float:
        return sum(v - self.cpu_start.get(pid, 0.0) for pid, v in self.peaks.cpu.items())

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def __enter__(self) -> RoleSampler:
        self.sample()
        self.cpu_start = dict(self.peaks.cpu)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()
        self._redis.close()


def _run(args: list[str], checkout: Path, env: dict[str, str]) -> str:
    return subprocess.run(
        args, cwd=checkout, env=env, capture_output=True, text=True, check=True
    ).stdout


def _celery_app(checkout: Path) -> str:
    """The -A argument that checkout's stack gives beat (its stack/servers.py start_beat)."""
    match = re.search(r'"-A", "([^"]+)", "beat"', (checkout / "stack" / "servers.py").read_text())
    if match is None:
        raise ValueError(f"no beat command in {checkout}/stack/servers.py")
    return match.group(1)


@contextmanager
def full_stack(
    checkout: Path, work: Path, pg: dict[str, str]
) -> Iterator[tuple[dict[str, int], str, str, str]]:
    """The full profile of `checkout` in `work`, PostgreSQL with the settings `pg` on top of
    stack.servers' (ALTER SYSTEM, then a restart): yields its roles' PIDs, gunicorn's URL, an
    app's write key, and the database URL."""
    roles: dict[str, int] = {}
    try:
        redis_server = start_redis(work / "redis", free_port())
        roles["redis"] = redis_server.pid
        postgres = start_postgres(work / "postgres", pg_port := free_port())
        roles["postgres"] = postgres.pid
        if pg:
            with psycopg.connect(postgres.url, autocommit=True) as conn:
                for name, value in pg.items():
                    conn.execute(f"ALTER SYSTEM SET {name} = '{value}'")
            postgres.stop()
            postgres = start_postgres(work / "postgres", pg_port)
            roles["postgres"] = postgres.pid
        env = {
            **os.environ,
            "LVD_PROFILE": "full",
            "LVD_DATA_DIR": str(work / "data"),
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": postgres.url,
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
            "CELERY": str(BIN / "celery"),
        }
        (work / "metrics").mkdir()
        _run([str(BIN / "flask"), "--app", "run", "db", "upgrade"], checkout, env)
        port = free_port()
        gunicorn = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]
        roles["gunicorn"] = spawn(
            [*gunicorn, "run:app"], work / "gunicorn.log", cwd=checkout, env=env
        ).pid
        for queue in QUEUES:
            log = work / f"worker-{queue}.log"
            roles[f"worker-{queue}"] = spawn(
                ["./start_celery_worker.sh", queue], log, cwd=checkout, env=env
            ).pid
        app = _celery_app(checkout)
        schedule = str(work / "celerybeat-schedule")
        beat = [str(BIN / "celery"), "-A", app, "beat", "-l", "INFO", "--schedule", schedule]
        roles["beat"] = spawn(beat, work / "beat.log", cwd=checkout, env=env).pid
        flower_port = free_port()
        flower = [str(BIN / "celery"), "-A", app, "flower", "--address=127.0.0.1"]
        flower += [f"--port={flower_port}", "--persistent=False"]
        flower_env = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        roles["flower"] = spawn(flower, work / "flower.log", cwd=checkout, env=flower_env).pid
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _ok(f"{url}/healthz"), 60, "gunicorn", 0.2)
        wait_until(lambda: _ok(f"http://127.0.0.1:{flower_port}/healthcheck"), 60, "flower", 0.2)
        for queue in QUEUES:
            log = work / f"worker-{queue}.log"
            wait_until(lambda log=log: " ready." in log.read_text(), 60, queue, 0.2)
        wait_until(lambda: "beat: Starting" in (work / "beat.log").read_text(), 60, "beat", 0.2)
        created = _run(
            [
                str(BIN / "flask"),
                "--app",
                "run",
                "apps",
                "create",
                "mem",
                "--template",
                "demo",
                "--json",
            ],
            checkout,
            env,
        )
        yield roles, url, json.loads(created)["write_key"], postgres.url
    finally:
        for pid in reversed(list(roles.values())):
            stop_process_group(pid, timeout=30)


def _ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=1) as response:
        return response.status == 200


def _stored(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT count(*) FROM events").fetchone()[0]


def measure(
    checkout: Path, pg: dict[str, str], seconds: int, connections: int
) -> tuple[Peaks, int, int, float]:
    """One run: peaks, events accepted, events stored, CPU seconds of the stack."""
    with tempfile.TemporaryDirectory(prefix="memory-run-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user
        with full_stack(checkout, work, pg) as (roles, url, key, database_url):
            target = f"{url}/api/logs/{key}/batch"
            warm = run_wrk(target, BATCH_LUA, 2, connections)
            expected = (warm["requests"] - warm["non_2xx"]) * 100
            wait_until(lambda: _stored(database_url) >= expected, 120, "the warm-up", 0.2)
            before = _stored(database_url)
            with RoleSampler(roles, _redis_url(work)) as sampler:
                result = run_wrk(target, BATCH_LUA, seconds, connections)
                accepted = (result["requests"] - result["non_2xx"]) * 100
                deadline = time.monotonic() + 300
                while _stored(database_url) - before < accepted and time.monotonic() < deadline:
                    time.sleep(0.2)
            stored = _stored(database_url) - before
            return sampler.peaks, accepted, stored, sampler.cpu_seconds


def _redis_url(work: Path) -> str:
    port = re.search(r"^port (\d+)", (work / "redis" / "redis.conf").read_text(), re.M).group(1)
    return f"redis://127.0.0.1:{port}/0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkout",
        action="append",
        help="a checkout to measure: PATH, or PATH@name=value,... with PostgreSQL settings",
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    variants = []
    for text in args.checkout or ["."]:
        path, _, settings = text.partition("@")
        pg = dict(item.split("=", 1) for item in settings.split(",") if item)
        variants.append((Path(path).resolve(), pg))
    for round_ in range(args.rounds):
        for checkout, pg in variants:
            load = os.getloadavg()[0]
            print(f"round {round_ + 1}: {checkout} {pg or ''} (load {load:.1f})", flush=True)
            peaks, accepted, stored, cpu = measure(checkout, pg, args.seconds, args.connections)
            roles = "  ".join(
                f"{role} {peaks.at_total[role]:.0f} (max {peaks.role[role]:.0f})"
                for role in peaks.at_total
            )
            print(
                f"  peak {peaks.total:.0f} MiB: {roles}\n"
                f"  redis used_memory max {peaks.redis_used:.0f} MiB, stream max "
                f"{peaks.stream_len} entries; accepted {accepted}, stored {stored}, "
                f"stack CPU {1e6 * cpu / max(1, accepted):.0f} us/event",
                flush=True,
            )


if __name__ == "__main__":
    main()
