"""`python -m loadtests.wsgi_servers`: WSGI servers side by side, in one run, alternating.

Each server configuration serves two apps in turn, each on a fresh server process tree:
- ceiling: loadtests/baselines/ceiling.py, a minimal Flask 202;
- ours: the real app (run:app) with the full profile's settings, against a Redis and a
  PostgreSQL started once for the whole run (migrated, one app on the demo plan); single events
  to POST /api/logs/<write_key>. No drain runs: the stream is trimmed between rows, so the
  backlog limit never answers 503.

wrk loads each row with keep-alive connections (16 by default). Per row: req/s, p50/p99, CPU
per request of the server's whole process tree (psutil), the CPU of wrk itself (rusage of the
child), cores busy (CPU seconds / wall seconds) of the server, of wrk and of the whole machine
(it is shared: what neither used, others did), and the client connections each server process
held mid-run (with keep-alive, a process holding none has nothing to do). `--rounds N` repeats
every row N times, alternating, and adds medians.

`--check` instead checks each server with our app, without load: keep-alive, the 202 body, JSON
4xx answers (bad JSON, 413), gzip and chunked request bodies (413 too), the client address behind
a proxy (X-Forwarded-For through the same ProxyFix the app uses) and shutdown on SIGTERM (a
request in flight finishes, and the server exits while a client holds an idle connection).

`python -m loadtests.wsgi_servers bjoern APP PORT PROCESSES` is the pre-fork launcher this run
uses for bjoern, which has none of its own.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import importlib.util
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.client import HTTPConnection
from pathlib import Path

import psutil
import redis

from loadtests.bench import SINGLE_LUA, Sampler, _answers, run_wrk
from stack.servers import (
    BIN,
    ROOT,
    free_port,
    spawn,
    start_postgres,
    start_redis,
    stop_process_group,
    wait_until,
)

CEILING = "loadtests.baselines.ceiling:app"
OURS = "run:app"
PROBE = "loadtests.wsgi_servers:probe_app"
STREAM = "lvd:events"  # app/services/ingestion/event_stream.py


# --- the servers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """One server configuration: its command for an app on a port, and its environment."""

    name: str
    command: Callable[[str, int], list[str]]
    env: dict[str, str] = field(default_factory=dict)
    # The module the server needs, and how to install it when it is missing.
    needs: str = "gunicorn"
    install: str = ""


def gunicorn_sync(workers: int) -> Choice:
    # --threads 1: with more threads (gunicorn.conf.py has 8) gunicorn silently runs gthread.
    return Choice(
        f"gunicorn sync {workers}",
        lambda app, port: [
            *_gunicorn(port),
            *("--worker-class", "sync", "--workers", str(workers), "--threads", "1", app),
        ],
    )


def gunicorn_gthread(workers: int, threads: int, connections: int = 0) -> Choice:
    """gunicorn.conf.py as `make up` runs it, with GUNICORN_WORKERS/GUNICORN_THREADS (each
    worker gets TASK_WAITS_PER_PROCESS = 4 threads on top); `connections`: gunicorn's
    --worker-connections (the most one worker holds open at once; its default is 1000)."""
    cap = ["--worker-connections", str(connections)] if connections else []
    return Choice(
        f"gunicorn gthread {workers}x({threads}+4)" + (f" wc{connections}" if connections else ""),
        lambda app, port: [*_gunicorn(port), *cap, app],
        {"GUNICORN_WORKERS": str(workers), "GUNICORN_THREADS": str(threads)},
    )


def _gunicorn(port: int) -> list[str]:
    return [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}"]


def granian(workers: int, threads: int) -> Choice:
    """granian's WSGI interface: `workers` processes, each a Rust HTTP runtime handing requests
    to `threads` Python threads."""
    return Choice(
        f"granian {workers}x{threads}",
        lambda app, port: [
            str(BIN / "granian"),
            *("--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port)),
            *("--workers", str(workers), "--blocking-threads", str(threads)),
            *("--http", "1", "--no-ws", "--log-level", "warning", "--no-access-log", app),
        ],
        needs="granian",
        install="pip install granian==2.8.9 (requirements-dev.txt)",
    )


def bjoern(processes: int) -> Choice:
    """bjoern (C, libev; one thread per process) under this module's pre-fork launcher."""
    return Choice(
        f"bjoern {processes}",
        lambda app, port: [
            sys.executable,
            *("-m", "loadtests.wsgi_servers", "bjoern", app, str(port), str(processes)),
        ],
        needs="bjoern",
        install="apt-get install libev-dev, then pip install bjoern==3.2.2 (it builds from source)",
    )


CHOICES = [
    gunicorn_sync(2),
    gunicorn_sync(4),
    gunicorn_sync(8),
    gunicorn_gthread(2, 4),
    gunicorn_gthread(2, 4, 8),
    gunicorn_gthread(3, 4),
    gunicorn_gthread(4, 4),
    gunicorn_gthread(4, 1),
    granian(2, 1),
    granian(2, 4),
    granian(3, 1),
    bjoern(2),
    bjoern(3),
]


@contextmanager
def serving(choice: Choice, app: str, env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """`app` served by `choice` on a free port: yields its URL and the PID of its process tree."""
    port = free_port()
    proc = spawn(choice.command(app, port), log, cwd=ROOT, env={**os.environ, **env, **choice.env})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/"), 60, f"{choice.name} serving {app}", 0.1)
        yield url, proc.pid
    finally:
        stop_process_group(proc.pid)


def serve_bjoern(app_spec: str, port: int, processes: int) -> None:
    """Pre-fork bjoern: `processes` children, each importing the app and running bjoern's loop
    on a socket of its own bound with SO_REUSEPORT, so the kernel spreads connections over them
    (on one shared socket, one process often accepted all of wrk's keep-alive connections and
    the other idled). SIGTERM becomes SIGINT for the children (bjoern stops its loop on SIGINT;
    SIGTERM would kill it at once)."""
    import bjoern as server

    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            module, name = app_spec.split(":")
            app = getattr(importlib.import_module(module), name)
            server.server_run(server.bind_and_listen("127.0.0.1", port, reuse_port=True), app)
            os._exit(0)
        children.append(pid)

    def stop(signum: int, frame: object) -> None:
        for child in children:
            os.kill(child, signal.SIGINT)

    signal.signal(signal.SIGTERM, stop)
    for child in children:
        os.waitpid(child, 0)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Row:
    server: str
    app: str
    uptime: str
    req_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_ms_per_req: float = 0.0
    server_cores: float = 0.0
    wrk_cores: float = 0.0
    machine_cores: float = 0.0
    spread: str = ""
    notes: str = ""


def connection_spread(pid: int, port: int) -> str:
    """Open client connections held by each process of the server's tree, e.g. "9/7": with
    keep-alive, a process holding none of them has nothing to do."""
    counts = []
    for proc in psutil.Process(pid).children(recursive=True) or [psutil.Process(pid)]:
        try:
            held = proc.net_connections("tcp")
        except psutil.NoSuchProcess:
            continue
        counts.append(
            sum(c.laddr.port == port and c.status == psutil.CONN_ESTABLISHED for c in held)
        )
    return "/".join(map(str, sorted(counts, reverse=True)))


def _machine_busy() -> float:
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(choice: Choice, app: str, url: str, pid: int, seconds: int, connections: int) -> Row:
    """wrk on `url` for `seconds` (after a 2 s warm-up), with the CPU of the server's process
    tree, of wrk, and of the machine over the same wall time."""
    row = Row(choice.name, "ceiling" if app == CEILING else "ours", _load())
    run_wrk(url, SINGLE_LUA, 2, connections)
    with Sampler(lambda: [pid]) as sampler:
        machine, wrk_cpu, start = _machine_busy(), _children_cpu(), time.monotonic()
        port = int(url.split(":")[2].split("/")[0])
        spread = threading.Timer(
            seconds / 2, lambda: setattr(row, "spread", connection_spread(pid, port))
        )
        spread.start()
        result = run_wrk(url, SINGLE_LUA, seconds, connections)
        spread.join()
        wall = time.monotonic() - start
        wrk_cpu, machine = _children_cpu() - wrk_cpu, _machine_busy() - machine
    row.req_per_s = result["requests"] / wall
    row.p50_ms, row.p99_ms = result["p50"], result["p99"]
    row.server_ms_per_req = 1000 * sampler.cpu_seconds / max(1, result["requests"])
    row.server_cores = sampler.cpu_seconds / wall
    row.wrk_cores = wrk_cpu / wall
    row.machine_cores = machine / wall
    notes = []
    if result["non_2xx"]:
        notes.append(f"{result['non_2xx']} non-2xx")
    if result["errors"]:
        notes.append(f"socket errors: {result['errors']}")
    row.notes = "; ".join(notes)
    return row


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


TABLE_HEAD = (
    "| server | app | req/s | p50 ms | p99 ms | server CPU ms/req | server cores | wrk cores "
    "| server+wrk | machine cores | connections per process | load avg before | notes |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
)


def table(rows: list[Row]) -> str:
    lines = [TABLE_HEAD]
    for r in rows:
        lines.append(
            f"| {r.server} | {r.app} | {r.req_per_s:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.server_ms_per_req:.3f} | {r.server_cores:.2f} | {r.wrk_cores:.2f} | "
            f"{r.server_cores + r.wrk_cores:.2f} | {r.machine_cores:.2f} | {r.spread} | "
            f"{r.uptime} | {r.notes} |"
        )
    return "\n".join(lines)


# --- our stack: Redis, PostgreSQL, the app's settings ----------------------------------------


@contextmanager
def our_settings(work: Path) -> Iterator[tuple[dict[str, str], str]]:
    """Redis and PostgreSQL on free ports, migrated, with one app on the demo plan: yields the
    full profile's environment (as `make up` sets it for gunicorn) and the app's write key."""
    redis_server = start_redis(work / "redis", free_port())
    postgres = start_postgres(work / "postgres", free_port())
    try:
        env = {
            "LVD_PROFILE": "full",
            "LVD_DATA_DIR": str(work / "data"),
            "TRUSTED_PROXIES": "1",
            "REDIS_URL": redis_server.url,
            "DATABASE_URL": postgres.url,
            "PROMETHEUS_MULTIPROC_DIR": str(work / "metrics"),
        }
        full = {**os.environ, **env}
        flask = [str(BIN / "flask"), "--app", "run"]
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=full, check=True, capture_output=True
        )
        created = subprocess.run(
            [*flask, "apps", "create", "wsgi-servers", "--template", "demo", "--json"],
            cwd=ROOT,
            env=full,
            capture_output=True,
            text=True,
            check=True,
        )
        yield env, json.loads(created.stdout)["write_key"]
    finally:
        stop_process_group(postgres.pid, postgres.stop_signal)
        stop_process_group(redis_server.pid)


def trim_stream(redis_url: str) -> None:
    """Empty the event stream (nothing drains it here), keeping its consumer group."""
    client = redis.Redis.from_url(redis_url)
    client.xtrim(STREAM, maxlen=0)
    client.close()


# --- correctness -----------------------------------------------------------------------------


def probe_app(environ: dict, start_response: Callable) -> list[bytes]:
    """The client address and scheme the app sees behind one trusted proxy (the same ProxyFix
    as app/__init__.py's register_proxy); `/slow` answers after a second (shutdown check) and
    first creates the file named by WSGI_PROBE_MARK, so the caller knows it is in flight."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    def inner(environ: dict, start_response: Callable) -> list[bytes]:
        if environ["PATH_INFO"] == "/slow":
            Path(os.environ["WSGI_PROBE_MARK"]).touch()
            time.sleep(1.0)
        body = json.dumps(
            {"remote_addr": environ.get("REMOTE_ADDR"), "scheme": environ["wsgi.url_scheme"]}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return ProxyFix(inner, x_for=1, x_proto=1)(environ, start_response)


def _curl(url: str, *args: str) -> tuple[int, str]:
    out = subprocess.run(
        ["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", *args, url],
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), body


def _json_error(status: int, body: str, want: int) -> str:
    try:
        answer = json.loads(body)
    except ValueError:
        return f"FAIL: {status} not JSON: {body[:60]!r}"
    if status == want and {"code", "message"} <= answer.keys():
        return f"ok ({status} {answer['code']})"
    return f"FAIL: {status} {answer.get('code')}"


def check_ours(url: str, key: str, work: Path) -> dict[str, str]:
    """Our endpoint's answers under one server: 202, 400, 413, gzip, chunked (curl)."""
    endpoint = f"{url}/api/logs/{key}"
    run = os.urandom(4).hex()
    event = {"eventName": "user_login", "userId": 1, "method": "email", "messageId": f"{run}-1"}
    results = {}
    conn = HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
    conn.request(
        "POST",
        f"/api/logs/{key}",
        json.dumps({**event, "messageId": f"{run}-0"}),
        {"Content-Type": "application/json"},
    )
    response = conn.getresponse()
    response.read()
    results["keep-alive"] = "no (Connection: close)" if response.will_close else "yes"
    conn.close()
    status, body = _curl(
        endpoint, "-H", "Content-Type: application/json", "--data-binary", json.dumps(event)
    )
    results["202 body"] = (
        "ok (202 verdict)"
        if status == 202 and {"status", "task_id"} <= json.loads(body or "{}").keys()
        else f"FAIL: {status} {body[:80]!r}"
    )
    status, body = _curl(endpoint, "-H", "Content-Type: application/json", "--data-binary", "{x")
    results["bad JSON"] = _json_error(status, body, 400)
    big = work / "wsgi-big.json"
    big.write_text(json.dumps({**event, "pad": "x" * 600_000}))
    status, body = _curl(
        endpoint, "-H", "Content-Type: application/json", "--data-binary", f"@{big}"
    )
    results["413 too large"] = _json_error(status, body, 413)
    packed = work / "wsgi-event.json.gz"
    packed.write_bytes(gzip.compress(json.dumps({**event, "messageId": f"{run}-2"}).encode()))
    status, body = _curl(
        endpoint,
        "-H",
        "Content-Type: application/json",
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        f"@{packed}",
    )
    results["gzip body"] = "ok (202)" if status == 202 else f"FAIL: {status} {body[:80]!r}"
    plain = work / "wsgi-event.json"
    plain.write_text(json.dumps({**event, "messageId": f"{run}-3"}))
    chunked = ("-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked")
    status, body = _curl(endpoint, *chunked, "--data-binary", f"@{plain}")
    results["chunked body"] = "ok (202)" if status == 202 else f"FAIL: {status} {body[:80]!r}"
    status, body = _curl(endpoint, *chunked, "--data-binary", f"@{big}")
    results["chunked 413"] = _json_error(status, body, 413)
    return results


def check_probe(choice: Choice, work: Path) -> dict[str, str]:
    """Client address behind a proxy, and a request in flight across SIGTERM."""
    results = {}
    mark = work / f"wsgi-mark-{os.getpid()}"
    mark.unlink(missing_ok=True)
    log = work / f"probe-{choice.name.replace(' ', '-')}.log"
    port = free_port()
    proc = spawn(
        choice.command(PROBE, port),
        log,
        cwd=ROOT,
        env={**os.environ, **choice.env, "WSGI_PROBE_MARK": str(mark)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(url + "/"), 60, f"{choice.name} serving the probe", 0.1)
        conn = HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request(
            "GET", "/", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        )
        seen = json.loads(conn.getresponse().read())
        # conn stays open, idle, as nginx keeps its upstream connections: the shutdown below
        # shows whether an idle keep-alive connection holds the server up.
        want = {"remote_addr": "203.0.113.7", "scheme": "https"}
        results["client address"] = "ok (203.0.113.7, https)" if seen == want else f"FAIL: {seen}"
        answer: dict[str, object] = {}

        def slow() -> None:
            conn = HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", "/slow")
                response = conn.getresponse()
                answer["status"], answer["body"] = response.status, response.read()
            except OSError as exc:
                answer["error"] = repr(exc)

        thread = threading.Thread(target=slow)
        thread.start()
        wait_until(mark.exists, 10, "the slow request to arrive")
        os.kill(proc.pid, signal.SIGTERM)
        start = time.monotonic()
        thread.join(15)
        gone = _wait_gone(proc.pid, 20)
        finished = answer.get("status") == 200 and b"remote_addr" in answer.get("body", b"")
        if finished and gone:
            exited = f"exited in {time.monotonic() - start:.1f} s"
            results["SIGTERM in flight"] = f"ok (finished; {exited})"
        elif finished:
            results["SIGTERM in flight"] = "FAIL: finished, but still up 20 s after SIGTERM"
        else:
            results["SIGTERM in flight"] = f"FAIL: {answer}"
        conn.close()
    finally:
        stop_process_group(proc.pid)
    return results


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.05)
            continue
        return True
    return False


# --- the run ---------------------------------------------------------------------------------


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "bjoern":
        serve_bjoern(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10, help="load per row")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="times through every row")
    parser.add_argument("--only", default="", help="regex: servers whose name matches")
    parser.add_argument("--apps", default="ceiling,ours", help="ceiling, ours or both")
    parser.add_argument("--check", action="store_true", help="correctness checks, no load")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: run `make system-packages`")
    choices = []
    for choice in CHOICES:
        if not re.search(args.only, choice.name):
            continue
        if importlib.util.find_spec(choice.needs) is None:
            print(f"skipping {choice.name}: {choice.needs} is not installed ({choice.install})")
            continue
        choices.append(choice)
    apps = [{"ceiling": CEILING, "ours": OURS}[a] for a in args.apps.split(",")]
    with tempfile.TemporaryDirectory(prefix="wsgi-servers-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # PostgreSQL runs as its own user
        with our_settings(work / "stack") as (env, key):
            if args.check:
                run_checks(choices, env, key, work)
            else:
                run_load(choices, apps, env, key, work, args)


def run_checks(choices: list[Choice], env: dict[str, str], key: str, work: Path) -> None:
    """The correctness table: one column per server."""
    results: dict[str, dict[str, str]] = {}
    for choice in choices:
        print(f"checking {choice.name}", flush=True)
        log = work / f"check-{choice.name.replace(' ', '-')}.log"
        with serving(choice, OURS, env, log) as (url, _):
            results[choice.name] = check_ours(url, key, work)
        results[choice.name].update(check_probe(choice, work))
    names = list(results)
    checks = list(results[names[0]])
    print()
    print("| check | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for check in checks:
        print(f"| {check} | " + " | ".join(results[n][check] for n in names) + " |")


def run_load(
    choices: list[Choice], apps: list[str], env: dict[str, str], key: str, work: Path, args
) -> None:
    rows: list[Row] = []
    for round_ in range(args.rounds):
        for choice in choices:
            for app in apps:
                path = f"/api/logs/{key}" if app == OURS else "/api/logs/k"
                log = work / f"{choice.name.replace(' ', '-')}-{round_}.log"
                print(f"round {round_ + 1}: {choice.name}, {app}", flush=True)
                with serving(choice, app, env, log) as (url, pid):
                    row = measure(choice, app, url + path, pid, args.seconds, args.connections)
                rows.append(row)
                print(table([row]).splitlines()[-1], flush=True)
                if app == OURS:
                    trim_stream(env["REDIS_URL"])
    print()
    print(
        f"wrk -t1 -c{args.connections} -d{args.seconds}s, keep-alive; "
        f"{psutil.cpu_count()} cores; load average before each row in its row"
    )
    print(table(rows))
    if args.rounds > 1:
        print()
        print(summary(rows))


def summary(rows: list[Row]) -> str:
    """Medians over the rounds, per server and app."""
    lines = [
        "| server | app | rounds | median req/s | median server CPU ms/req "
        "| median server+wrk cores |",
        "|---|---|---:|---:|---:|---:|",
    ]
    keys = dict.fromkeys((r.server, r.app) for r in rows)
    for server, app in keys:
        mine = [r for r in rows if (r.server, r.app) == (server, app)]
        lines.append(
            f"| {server} | {app} | {len(mine)} | "
            f"{statistics.median(r.req_per_s for r in mine):,.0f} | "
            f"{statistics.median(r.server_ms_per_req for r in mine):.3f} | "
            f"{statistics.median(r.server_cores + r.wrk_cores for r in mine):.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
