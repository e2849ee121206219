"""`make bench`: ours against the designs it replaces, side by side, in one run on this machine.

Each row gets a fresh stack on 127.0.0.1, a bounded wrk load, and then waits until every
accepted event is stored (the drain included):
- limit: nginx answering 202 by itself;
- ceiling: a minimal Flask 202 in ours's layout (nginx, one single-worker gunicorn per core),
  the most this machine answers with Flask and nothing else to do;
- baseline S: Flask + marshmallow + sha256 + a synchronous INSERT+COMMIT per request on gunicorn
  sync workers, no ORM: the synchronous design as lean as it honestly gets;
- baseline C: the literal design (marshmallow, one apply_async per event, one INSERT+COMMIT
  per task, Celery's default settings);
- ours through nginx (the full profile of `make up`): single events, and batches of 100.
Then one open-loop run offers 200 single-event requests/s to ours for the latency at that load.
With --old REV (`make bench OLD=REV`), ours at that commit is measured too, in its own checkout.

CPU per event and peak memory are of the stack's own processes (load generator excluded);
memory is the sum of PSS, so pages shared between forked workers count once.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

import psutil
import psycopg

from stack import __main__ as stack
from stack.servers import (
    free_port,
    spawn,
    start_granian,
    start_gunicorn,
    start_nginx,
    start_postgres,
    start_redis,
    stop_process_group,
    wait_until,
)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

SINGLE_LUA = """
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local run = tostring(math.random(1e9))
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local body = string.format(
    '{"eventName":"user_login","userId":%d,"method":"email","messageId":"%s-%d"}', n, run, n)
  return wrk.format(nil, nil, nil, body)
end
"""
BATCH_LUA = """
math.randomseed(os.time() + math.floor(os.clock() * 1e6))
local run = tostring(math.random(1e9))
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local events = {}
  for i = 1, 100 do
    n = n + 1
    events[i] = string.format(
      '{"eventName":"user_login","userId":%d,"method":"email","messageId":"%s-%d"}', n, run, n)
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(events, ",") .. ']}')
end
"""
LIMIT_CONF = """
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/body;
    server {
        listen 127.0.0.1:@PORT@;
        location / { default_type application/json; return 202 '{"status":"accepted"}'; }
    }
}
"""


@dataclass
class Stack:
    """A started stack: where to send load, which processes it is, how many rows it stored."""

    url: str
    path: str
    roots: Callable[[], list[int]]
    stored: Callable[[], int] | None = None


@dataclass
class Row:
    name: str
    events_per_s: float = 0.0
    http_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    cpu_ms_per_event: float = 0.0
    peak_mib: float = 0.0
    cores: float = 0.0  # the stack's CPU seconds per second of load
    generator_cores: float = 0.0  # wrk's
    accepted: int = 0
    lost: int | None = None
    notes: list[str] = field(default_factory=list)


# --- measuring -------------------------------------------------------------------------------


def _processes(roots: list[int]) -> list[psutil.Process]:
    found: dict[int, psutil.Process] = {}
    for pid in roots:
        try:
            proc = psutil.Process(pid)
            for p in [proc, *proc.children(recursive=True)]:
                found[p.pid] = p
        except psutil.NoSuchProcess:
            pass
    return list(found.values())


class Sampler:
    """CPU seconds and peak PSS of a stack's process trees, sampled twice a second."""

    def __init__(self, roots: Callable[[], list[int]]) -> None:
        self._roots = roots
        self._cpu: dict[int, float] = {}
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        total = 0
        for proc in _processes(self._roots()):
            try:
                times = proc.cpu_times()
                self._cpu[proc.pid] = times.user + times.system
                total += proc.memory_full_info().pss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        self.peak_bytes = max(self.peak_bytes, total)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def __enter__(self) -> Sampler:
        self._sample()
        self._start_cpu = dict(self._cpu)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(v - self._start_cpu.get(pid, 0.0) for pid, v in self._cpu.items())


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, lua: str, seconds: int, connections: int) -> dict[str, float]:
    """wrk's totals: requests, non-2xx answers, p50/p99 latency (ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    # wrk is the only child this process waits for meanwhile: its CPU is the children's delta.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    finally:
        os.unlink(script.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    generator_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),
        "errors": errors.group(1) if errors else "",
        "generator_cpu": generator_cpu,
    }


def measure(
    name: str, stack_: Stack, lua: str, per_request: int, seconds: int, connections: int
) -> Row:
    """Load for `seconds`, then wait for storage; end to end = accepted / (until last row)."""
    row = Row(name)
    # Warm up first (each process compiles the plan and opens its connections on first use),
    # and let the warm-up's events be stored before counting.
    warm = run_wrk(stack_.url + stack_.path, lua, 2, connections)
    before = 0
    if stack_.stored:
        expected = (warm["requests"] - warm["non_2xx"]) * per_request
        wait_until(lambda: stack_.stored() >= expected, 120, "the warm-up's events", 0.1)
        before = stack_.stored()
    with Sampler(stack_.roots) as sampler:
        start = time.monotonic()
        result = run_wrk(stack_.url + stack_.path, lua, seconds, connections)
        load_end = time.monotonic()
        row.accepted = (result["requests"] - result["non_2xx"]) * per_request
        end = load_end
        if stack_.stored:

            def stored_now() -> int:
                return stack_.stored() - before

            deadline = load_end + 300
            while stored_now() < row.accepted and time.monotonic() < deadline:
                time.sleep(0.05)
            end = time.monotonic()
            row.lost = max(0, row.accepted - stored_now())
    row.events_per_s = row.accepted / (end - start)
    row.http_per_s = result["requests"] / (load_end - start)
    row.p50_ms, row.p99_ms = result["p50"], result["p99"]
    row.cpu_ms_per_event = 1000 * sampler.cpu_seconds / max(1, row.accepted)
    row.cores = sampler.cpu_seconds / (end - start)
    row.generator_cores = result["generator_cpu"] / (load_end - start)
    row.peak_mib = sampler.peak_bytes / 2**20
    if result["non_2xx"]:
        row.notes.append(f"{result['non_2xx']} non-2xx")
    if result["errors"]:
        row.notes.append(f"socket errors: {result['errors']}")
    return row


def open_loop(url: str, rate: int, seconds: int) -> tuple[float, float, int]:
    """Offer `rate` single-event requests/s on schedule; latency counts from the scheduled
    send time (no coordinated omission). Returns p50, p99 (ms) and non-2xx answers."""
    host, port = url.removeprefix("http://").split("/")[0].split(":")
    path = "/" + url.removeprefix("http://").split("/", 1)[1]
    local = threading.local()
    latencies: list[float] = []
    failures = 0
    run = os.urandom(4).hex()

    def send(n: int, scheduled: float) -> None:
        nonlocal failures
        conn = getattr(local, "conn", None) or HTTPConnection(host, int(port), timeout=10)
        local.conn = conn
        body = json.dumps(
            {"eventName": "user_login", "userId": n, "method": "email", "messageId": f"{run}-{n}"}
        )
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            ok = response.status == 202
        except OSError:
            local.conn = None
            ok = False
        latencies.append(time.monotonic() - scheduled)
        failures += not ok

    with ThreadPoolExecutor(32) as pool:
        start = time.monotonic()
        for n in range(rate * seconds):
            scheduled = start + n / rate
            time.sleep(max(0.0, scheduled - time.monotonic()))
            pool.submit(send, n, scheduled)
    latencies.sort()
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    return statistics.median(latencies) * 1000, p99 * 1000, failures


# --- stacks ---------------------------------------------------------------------------------

NGINX_LIMIT_LIFTED = {"rate=5000r/s": "rate=1000000r/s", "burst=10000": "burst=1000000"}
# Baseline S as lean as the synchronous design gets: sync workers (no threads), and more of them
# than cores, so one waiting on its COMMIT leaves the CPU to another.
SYNC_OPTIONS = ("--worker-class", "sync", "--workers", "4")


def _gunicorn(
    module: str, port: int, env: dict[str, str], log: Path, options: tuple[str, ...] = ()
) -> int:
    # The baselines have no /healthz: any answer on / means the server is up.
    server = start_gunicorn(env, log, port, module=module, wait=False, options=options)
    wait_until(lambda: _answers(f"http://127.0.0.1:{port}/"), 60, module, interval=0.1)
    return server.pid


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        pass  # any HTTP answer (404 here) means the server is up; refused raises on
    return True


def _count(database_url: str, sql: str) -> Callable[[], int]:
    def count() -> int:
        with psycopg.connect(database_url) as conn:
            return conn.execute(sql).fetchone()[0]

    return count


@contextmanager
def limit_stack(work: Path) -> Iterator[Stack]:
    port = free_port()
    server = start_nginx(work / "nginx", LIMIT_CONF.replace("@PORT@", str(port)), port)
    try:
        yield Stack(server.url, "/api/logs/k", lambda: [server.pid])
    finally:
        stop_process_group(server.pid, server.stop_signal)


@contextmanager
def ceiling_stack(work: Path, server: str = "gunicorn") -> Iterator[Stack]:
    """The minimal Flask 202 in ours's layout: nginx (its configuration of `make up`) in front
    of one single-worker gunicorn per core, or with `server="granian"` of one granian of as many
    workers (`API_SERVER=granian`). One gunicorn reached directly kept one core busy (a gthread
    worker keeps the keep-alive connections it accepted, and wrk's all landed on one worker):
    this layout is the one that uses the machine, for an app that does nothing."""
    work.mkdir(parents=True)
    work.chmod(0o755)  # nginx's worker runs as `nobody`
    servers: list[int] = []
    nginx = None
    try:
        module = "loadtests.baselines.ceiling:app"
        if server == "granian":
            ports = [free_port()]
            granian = start_granian(
                {},
                work / "granian.log",
                ports[0],
                stack.API_PROCESSES,
                stack.API_THREADS,
                module,
                wait=False,
            )
            servers.append(granian.pid)
            wait_until(lambda: _answers(f"http://127.0.0.1:{ports[0]}/"), 60, module, 0.1)
        else:
            ports = [free_port() for _ in range(stack.API_PROCESSES)]
            for port in ports:
                log = work / f"gunicorn-{port}.log"
                servers.append(_gunicorn(module, port, {}, log, ("--workers", "1")))
        stack.write_htpasswd(work / "htpasswd", "bench", os.urandom(8).hex())
        port = free_port()
        upstream = [f"127.0.0.1:{p}" for p in ports]
        conf = stack.render_nginx_conf(port, upstream, free_port(), work / "htpasswd")
        # nginx's per-address limit (5,000/s) is below what granian answers for an app that does
        # nothing: lifted here, or the row measures the limit's 429s, not the ceiling.
        for limit, lifted in NGINX_LIMIT_LIFTED.items():
            assert limit in conf, f"{limit!r} is no longer in nginx.conf"
            conf = conf.replace(limit, lifted)
        nginx = start_nginx(work / "nginx", conf, port)
        yield Stack(nginx.url, "/api/logs/k", lambda: [nginx.pid, *servers])
    finally:
        if nginx is not None:
            nginx.stop()
        for pid in servers:
            stop_process_group(pid)


@contextmanager
def baseline_stack(work: Path, design: str, options: tuple[str, ...] = ()) -> Iterator[Stack]:
    """Baseline S (`sync_design`) or C (`celery_design`) with their own Redis and PostgreSQL."""
    redis = start_redis(work / "redis", free_port())
    postgres = start_postgres(work / "postgres", free_port())
    database_url = postgres.url.replace("postgresql://", "postgresql+psycopg://")
    env = {"BENCH_DATABASE_URL": database_url, "BENCH_REDIS_URL": redis.url}
    pids = [redis.pid, postgres.pid]
    try:
        subprocess.run(
            [
                str(BIN / "python"),
                "-c",
                "from loadtests.baselines.common import create_table as c; c()",
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            check=True,
        )
        port = free_port()
        module = f"loadtests.baselines.{design}:app"
        pids.append(_gunicorn(module, port, env, work / "app.log", options))
        if design == "celery_design":
            log = work / "worker.log"
            worker = spawn(
                [
                    str(BIN / "celery"),
                    "-A",
                    "loadtests.baselines.celery_design:celery_app",
                    "worker",
                    "--loglevel",
                    "WARNING",
                ],
                log,
                cwd=ROOT,
                env={**os.environ, **env},
            )
            pids.append(worker.pid)
            wait_until(
                lambda: "ready" in log.read_text() or _worker_up(worker.pid),
                60,
                "the baseline worker",
                interval=0.2,
            )
        yield Stack(
            f"http://127.0.0.1:{port}",
            "/api/logs/k",
            lambda: pids,
            _count(postgres.url, "SELECT count(*) FROM bench_events"),
        )
    finally:
        for pid in reversed(pids):
            stop_process_group(pid)


def _worker_up(pid: int) -> bool:
    # A worker at WARNING prints nothing when ready: wait until its pool has forked.
    try:
        return len(psutil.Process(pid).children(recursive=True)) >= 2
    except psutil.NoSuchProcess:
        return False


def _create_app(checkout: Path, settings: dict[str, str]) -> dict:
    """A new app on the demo plan in the stack of `checkout`: its id and write key."""
    return json.loads(
        subprocess.run(
            [
                str(BIN / "flask"),
                "--app",
                "run",
                "apps",
                "create",
                f"bench-{os.urandom(3).hex()}",
                "--template",
                "demo",
                "--json",
            ],
            cwd=checkout,
            env={**os.environ, **settings},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )


def _our_stack(app: dict, settings: dict[str, str], pids: dict[str, int]) -> Stack:
    return Stack(
        f"http://127.0.0.1:{stack.NGINX_PORT}",
        f"/api/logs/{app['write_key']}",
        lambda: list(pids.values()),
        _count(settings["DATABASE_URL"], f"SELECT count(*) FROM events WHERE app_id = {app['id']}"),
    )


@contextmanager
def our_stack(work: Path, server: str = "gunicorn") -> Iterator[tuple[Stack, str]]:
    """The full profile as `make up` starts it (its API on `server`), in a fresh folder, with
    a new app on the demo plan; yields it and the app's write key."""
    stack.use_folder(work)
    stack.use_server(server)
    stack.up()
    try:
        settings = stack.read_settings()
        app = _create_app(ROOT, settings)
        pids = json.loads(stack.PIDS_FILE.read_text())
        yield _our_stack(app, settings, pids), app["write_key"]
    finally:
        stack.down()


@contextmanager
def old_stack(checkout: Path) -> Iterator[tuple[Stack, str]]:
    """The full profile of an older commit checked out (fresh) in `checkout`, started by that
    checkout's own `python -m stack up` (in its var/full), with a new app on the demo plan."""
    folder = checkout / "var" / "full"
    env = {**os.environ, "API_SERVER": "gunicorn"}
    subprocess.run([str(BIN / "python"), "-m", "stack", "up"], cwd=checkout, env=env, check=True)
    try:
        settings = dict(
            line.split("=", 1)
            for line in (folder / "stack.env").read_text().splitlines()
            if "=" in line
        )
        app = _create_app(checkout, settings)
        pids = json.loads((folder / "pids.json").read_text())
        yield _our_stack(app, settings, pids), app["write_key"]
    finally:
        subprocess.run(
            [str(BIN / "python"), "-m", "stack", "down"], cwd=checkout, env=env, check=True
        )


@contextmanager
def checkout_of(revision: str, work: Path) -> Iterator[Path]:
    """`revision` checked out (detached) in a worktree under `work`, removed afterwards."""
    folder = work / f"checkout-{revision[:12]}"
    subprocess.run(
        ["git", "worktree", "add", "--detach", "-q", str(folder), revision], cwd=ROOT, check=True
    )
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=True)


# --- the run ---------------------------------------------------------------------------------


def _ratio(value: float, base: float, form: str = ".1f") -> str:
    return f"{value / base:{form}}x" if base else "-"


def print_table(rows: list[Row], base_s: Row, base_c: Row, ceiling: Row, p99_offered: tuple) -> str:
    lines = [
        "| design | events/s end to end | HTTP req/s | p50 ms | p99 ms | CPU ms/event | "
        "stack cores | wrk cores | peak MiB | lost | vs ceiling | vs S | vs C | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lost = "-" if r.lost is None else str(r.lost)
        lines.append(
            f"| {r.name} | {r.events_per_s:,.0f} | {r.http_per_s:,.0f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.cpu_ms_per_event:.3f} | {r.cores:.2f} | "
            f"{r.generator_cores:.2f} | {r.peak_mib:,.0f} | {lost} | "
            f"{_ratio(r.events_per_s, ceiling.events_per_s, '.2f')} | "
            f"{_ratio(r.events_per_s, base_s.events_per_s)} | "
            f"{_ratio(r.events_per_s, base_c.events_per_s)} | {'; '.join(r.notes)} |"
        )
    p50, p99, failures = p99_offered
    lines.append("")
    lines.append(
        f"ours, single events through nginx at 200 req/s offered (open loop): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, {failures} failed"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="load per row")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--old",
        metavar="REVISION",
        help="also measure ours at this older commit (git revision), in the same run",
    )
    parser.add_argument(
        "--granian",
        action="store_true",
        help="also measure the ceiling and ours with API_SERVER=granian, in the same run",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: run `make system-packages`")
    if stack.PIDS_FILE.exists():
        sys.exit("the full profile is up: run `make down` first (its ports are needed)")
    seconds, conns = args.seconds, args.connections
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lvd-bench-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user
        print("limit: nginx alone", flush=True)
        with limit_stack(work / "limit") as s:
            rows.append(measure("limit: nginx 202", s, SINGLE_LUA, 1, seconds, conns))
        print("ceiling: minimal Flask", flush=True)
        with ceiling_stack(work / "ceiling") as s:
            ceiling = measure("ceiling: Flask 202", s, SINGLE_LUA, 1, seconds, conns)
        rows.append(ceiling)
        print("baseline S", flush=True)
        with baseline_stack(work / "s", "sync_design", SYNC_OPTIONS) as s:
            base_s = measure("baseline S: sync INSERT", s, SINGLE_LUA, 1, seconds, conns)
        rows.append(base_s)
        print("baseline C", flush=True)
        with baseline_stack(work / "c", "celery_design") as s:
            base_c = measure("baseline C: apply_async", s, SINGLE_LUA, 1, seconds, conns)
        rows.append(base_c)
        print("ours: single events", flush=True)
        with our_stack(work / "ours-single") as (s, _):
            rows.append(measure("ours: single events", s, SINGLE_LUA, 1, seconds, conns))
        print("ours: batches of 100", flush=True)
        with our_stack(work / "ours-batch") as (s, key):
            s.path = f"/api/logs/{key}/batch"
            rows.append(measure("ours: batches of 100", s, BATCH_LUA, 100, seconds, conns // 2))
        if args.old:
            with checkout_of(args.old, work) as checkout:
                label = f"ours at {args.old}"
                print(f"{label}: single events", flush=True)
                with old_stack(checkout) as (s, _):
                    rows.append(measure(f"{label}: single", s, SINGLE_LUA, 1, seconds, conns))
                print(f"{label}: batches of 100", flush=True)
                with old_stack(checkout) as (s, key):
                    s.path = f"/api/logs/{key}/batch"
                    rows.append(
                        measure(f"{label}: batches", s, BATCH_LUA, 100, seconds, conns // 2)
                    )
        if args.granian:
            print("ceiling on granian", flush=True)
            with ceiling_stack(work / "ceiling-granian", "granian") as s:
                rows.append(measure("ceiling on granian", s, SINGLE_LUA, 1, seconds, conns))
            print("ours on granian: single events", flush=True)
            with our_stack(work / "granian-single", "granian") as (s, _):
                rows.append(measure("ours on granian: single", s, SINGLE_LUA, 1, seconds, conns))
            print("ours on granian: batches of 100", flush=True)
            with our_stack(work / "granian-batch", "granian") as (s, key):
                s.path = f"/api/logs/{key}/batch"
                rows.append(
                    measure("ours on granian: batches", s, BATCH_LUA, 100, seconds, conns // 2)
                )
        print("ours: 200 req/s offered", flush=True)
        with our_stack(work / "ours-open-loop", "gunicorn") as (s, _):
            open_loop(s.url + s.path, 200, 3)  # warm-up, not counted
            offered = open_loop(s.url + s.path, 200, 15)
    table = print_table(rows, base_s, base_c, ceiling, offered)
    print()
    print(table)
    lost = sum(r.lost or 0 for r in rows)
    sys.exit(f"FAILED: {lost} events lost" if lost else 0)


if __name__ == "__main__":
    main()
