"""`make scale`: the full profile as separate hosts under a steady stream, hosts killed one by one.

Seven hosts, each a network namespace on one private bridge (stack/netns.py; nothing reaches
outside the machine): `data` runs Redis, PostgreSQL and beat; `lb` runs nginx with both API
hosts upstream; `api1` and `api2` run gunicorn; `worker1` and `worker2` run one Celery worker per
queue; `client` runs the load. Then, in one run:

1. throughput through nginx with two API hosts and with one (wrk, rounds alternating), with the
   CPU each tier spent per event (nginx, API, Redis, drain, PostgreSQL);
2. phases under a steady stream of single events (unique messageIds, a bounded rate): steady;
   the worker host that is draining at that moment SIGKILLed (all its processes), and the time
   until the other worker host has stored the entries the dead one held; an API host SIGKILLed.

It prints a row per phase (sent, 2xx, 503, stored, stored twice, lost; stack/faults.py's table)
and exits 1 if any event was lost or stored twice, or the dead host's entries were not taken
over. Everything it made (namespaces, links, processes) is removed at the end, also after an
error, Ctrl-C or SIGTERM. Needs root. `--clean` removes what a killed run left behind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
import redis

from celery_config import QUEUES, STORAGE_QUEUE
from stack import __main__ as stack
from stack import netns
from stack.faults import (
    Senders,
    Tally,
    count_answer,
    event_stream,
    print_table,
    settle,
    stream_event,
)
from stack.servers import (
    BIN,
    ROOT,
    Server,
    healthy,
    make_private_folder,
    start_beat,
    start_gunicorn,
    start_nginx,
    start_postgres,
    start_redis,
    start_worker,
    wait_until,
    worker_ready,
)

FOLDER = ROOT / "var" / "scale"  # unless --folder
MARKER = ".made-by-stack-scale"  # only a folder holding it is emptied at the start
# Host → last byte of its address on 10.18.0.0/24.
ROLES = {"data": 2, "lb": 5, "api1": 11, "api2": 12, "worker1": 21, "worker2": 22, "client": 100}
APIS, WORKERS = ("api1", "api2"), ("worker1", "worker2")
# Every host has its own addresses, so the usual ports serve; nothing collides with `make up`.
REDIS_PORT, POSTGRES_PORT = 6379, 5432
# Each API host runs what `make up` runs: one gunicorn of one worker per core, on these ports.
API_PORTS, API_NAMES = stack.API_PORTS, stack.API_NAMES
BALANCED_PORT, ONE_API_PORT = 8080, 8081  # nginx: both API hosts / api1 only
NO_FLOWER_PORT = 5555  # nginx.conf names Flower's port; no Flower runs on these hosts
BATCH = 100  # events per request of the batch round
TIERS = ("nginx", "API", "Redis", "drain", "PostgreSQL")
RETRIES = 5  # attempts per event, like an SDK: a 503 or no answer is sent again, same messageId
RETRY_WAIT = 0.2
TAKEOVER_TIMEOUT = 150  # the takeover waits for CLAIM_IDLE_MS (60 s) of idleness, then a drain
SETTLE_SECONDS = 120  # unless --settle: how long accepted events may take to be stored
_STARTED = time.monotonic()


# --- the hosts --------------------------------------------------------------------------------


def balancer_conf(apis: list[str], folder: Path) -> str:
    """nginx/nginx.conf of `make up`, changed for a balancer host: it listens on all of the
    host's addresses, with every API host's gunicorns upstream on BALANCED_PORT and the first
    host's alone on ONE_API_PORT; ingestion requests that fail on one go to the next."""
    htpasswd = folder / "lb" / "htpasswd"  # the Flower location needs one; it holds no user
    htpasswd.parent.mkdir(parents=True, exist_ok=True)
    htpasswd.write_text("")
    # A server that failed is left alone for 5 s, then tried again.
    servers = [f"{a}:{port} max_fails=1 fail_timeout=5s" for a in apis for port in API_PORTS]
    conf = stack.render_nginx_conf(BALANCED_PORT, servers, NO_FLOWER_PORT, htpasswd)
    first = "".join(f"        server {apis[0]}:{port};\n" for port in API_PORTS)
    conf = _replace(
        conf,
        "    upstream app {\n",
        # Which group a request goes to follows the port it came in on.
        f"    map $server_port $backend {{\n        {ONE_API_PORT} app_one;\n"
        "        default app;\n    }\n\n"
        f"    upstream app_one {{\n{first}"
        "        keepalive 32;\n        keepalive_timeout 60s;\n    }\n\n"
        "    upstream app {\n",
    )
    conf = _replace(
        conf,
        f"        listen 127.0.0.1:{BALANCED_PORT};\n",
        f"        listen {BALANCED_PORT};\n        listen {ONE_API_PORT};\n",
    )
    conf = _replace(conf, "proxy_pass http://app;", "proxy_pass http://$backend;", times=2)
    # A dead host refuses at once; one that vanished from the network is given up on quickly.
    conf = _replace(
        conf, "    access_log off;\n", "    access_log off;\n    proxy_connect_timeout 2s;\n"
    )
    return _replace(conf, "        location / {\n", INGEST_LOCATION + "        location / {\n")


# By default nginx never sends a POST again once it reached an API host (it may have acted on
# it). Ingestion may be sent again: the admission script claims each event's dedup key (its
# messageId, else its payload's hash) in the same atomic step that queues it, so a copy that
# reaches the other API host is answered `duplicate` with the first copy's task id and queued no
# second time (app/services/ingestion/admission.py). Other POSTs (accounts, apps, jobs) are not.
# Every server may be tried once: both gunicorns of a dead host fail alike.
INGEST_LOCATION = """\
        location ~ ^/(api/logs/|v1/) {
            proxy_pass http://$backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_intercept_errors off;
            proxy_next_upstream error timeout non_idempotent;
        }

"""


def _replace(text: str, old: str, new: str, times: int = 1) -> str:
    found = text.count(old)
    if found != times:
        raise ValueError(f"nginx/nginx.conf changed: {old.strip()!r} found {found} times")
    return text.replace(old, new)


@dataclass
class Cluster:
    """The processes on each host, started and stopped in order."""

    net: netns.Network
    folder: Path
    queues: tuple[str, ...] = QUEUES  # a Celery worker for each on every worker host
    servers: dict[tuple[str, str], Server] = field(default_factory=dict)  # (role, name)
    secret: str = field(default_factory=lambda: secrets.token_hex(32))
    redis_url: str = ""
    database_url: str = ""

    def env(self, role: str) -> dict[str, str]:
        """A host's settings, as `make up` gives its processes (stack/__main__.py): its own data
        folder and metrics; the secret key shared, since hosts share no disk."""
        folder = self.folder / role
        metrics = folder / "metrics"
        metrics.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "LVD_PROFILE": "full",
            "LVD_DATA_DIR": str(folder),
            "TRUSTED_PROXIES": "1",  # nginx on the balancer host
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            "SECRET_KEY": self.secret,
            "PUBLIC_URL": f"http://{self.net.address('lb')}:{BALANCED_PORT}",
            "PROMETHEUS_MULTIPROC_DIR": str(metrics),
        }

    def start(self) -> None:
        data = self.net.address("data")
        with self.net.inside("data"):
            redis_server = start_redis(self.folder / "data" / "redis", REDIS_PORT, host=data)
            self.servers["data", "redis"] = redis_server
            postgres = start_postgres(
                self.folder / "data" / "postgres", POSTGRES_PORT, host=data, clients=self.net.cidr
            )
            self.servers["data", "postgres"] = postgres
        self.redis_url, self.database_url = redis_server.url, postgres.url
        self.flask("data", "db", "upgrade")
        for role in APIS:
            with self.net.inside(role) as host:
                for name, port in zip(API_NAMES, API_PORTS, strict=True):
                    log = self.folder / role / f"{name}.log"
                    server = start_gunicorn(
                        self.env(role), log, port, workers=1, wait=False, host=host.address
                    )
                    self.servers[role, name] = server
        for role in WORKERS:
            with self.net.inside(role):
                for queue in self.queues:
                    log = self.folder / role / f"worker-{queue}.log"
                    server = start_worker(self.env(role), log, queue, wait=False)
                    self.servers[role, queue] = server
        # Beat on the data host: its drain every 30 s is the safety net for a dead worker
        # host's entries, so it must not die with one.
        with self.net.inside("data"):
            schedule = self.folder / "data" / "celerybeat-schedule"
            beat = start_beat(
                self.env("data"), self.folder / "data" / "beat.log", schedule, wait=False
            )
            self.servers["data", "beat"] = beat
        conf = balancer_conf([self.net.address(role) for role in APIS], self.folder)
        with self.net.inside("lb"):
            self.servers["lb", "nginx"] = start_nginx(
                self.folder / "lb" / "nginx", conf, BALANCED_PORT
            )
        for role in APIS:
            for name in API_NAMES:
                url = self.servers[role, name].url
                wait_until(lambda url=url: healthy(url), 90, f"{name} on {role}", interval=0.2)
        for role in WORKERS:
            for queue in self.queues:
                log = self.folder / role / f"worker-{queue}.log"
                wait_until(lambda log=log: worker_ready(log), 90, f"{queue} worker on {role}")
        wait_until(lambda: healthy(self.url()), 30, "nginx on lb")

    def url(self, port: int = BALANCED_PORT) -> str:
        return f"http://{self.net.address('lb')}:{port}"

    def flask(self, role: str, *args: str) -> str:
        """The admin command with a host's settings (run from here; it only talks to the data
        host)."""
        result = subprocess.run(
            [str(BIN / "flask"), "--app", "run", *args],
            cwd=ROOT,
            env=self.env(role),
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"flask {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def stop(self) -> None:
        """Stop every process we started, the front door first and the stores last."""
        stages = [["nginx"], [*API_NAMES, "beat", *QUEUES], ["postgres", "redis"]]
        for names in stages:
            stage = [key for key in self.servers if key[1] in names]
            # The processes of one stage stop side by side: a worker's warm shutdown takes
            # seconds, and there are six of them.
            threads = [
                threading.Thread(target=self.servers[key].stop, kwargs={"timeout": 10})
                for key in stage
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for key in stage:
                del self.servers[key]

    def kill_host(self, role: str) -> int:
        """SIGKILL every process on a host (all of them ours: we made the host); how many."""
        killed: set[int] = set()
        while pids := [pid for pid in self.net.pids(role) if pid not in killed]:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                killed.add(pid)
        return len(killed)


class Database:
    """SQL on the data host's PostgreSQL (what stack/faults.py's counting helpers call)."""

    def __init__(self, url: str) -> None:
        self.url = url

    def sql(self, query: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url, connect_timeout=3) as conn:
            return conn.execute(query, params).fetchall()


# --- the steady stream ------------------------------------------------------------------------


@dataclass
class StreamTally(Tally):
    """Tally of stack/faults.py, and how often an event was sent again or answered duplicate."""

    resent: int = 0
    duplicate: int = 0


class Stream(Senders):
    """Threads posting single events through nginx at a bounded total rate (closed loop, paced),
    each over one kept-alive connection. Like an SDK, an event answered 503 or not at all is
    sent again with the same messageId, up to RETRIES times."""

    def __init__(
        self, host: str, port: int, write_key: str, run: str, rate: float, threads: int = 6
    ) -> None:
        self.host, self.port, self.run = host, port, run
        self.path = f"/api/logs/{write_key}"
        self.interval = threads / rate  # seconds between two events of one thread
        self.tally = StreamTally()
        super().__init__(threads)

    def wait(self, seconds: float) -> None:
        """Let the stream run on for `seconds`."""
        self._stop.wait(seconds)

    def _send(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        due = time.monotonic()
        while not self._stop.is_set():
            message_id, event = stream_event("scale_stream", self.run)
            body = json.dumps(event).encode()
            for attempt in range(RETRIES):
                started = time.monotonic()
                status, answer = _post(conn, self.path, body)
                took = time.monotonic() - started
                self.count(self.tally, message_id, status, answer, took, attempt)
                if status not in (0, 502, 503, 504) or self._stop.wait(RETRY_WAIT):
                    break
            due = max(due + self.interval, time.monotonic() - 1)  # never a burst to catch up
            self._stop.wait(max(0.0, due - time.monotonic()))
        conn.close()

    @staticmethod
    def count(
        tally: StreamTally, message_id: str, status: int, answer: dict, took: float, attempt: int
    ) -> None:
        """Count one answer as stack/faults.py does, and whether it was a resend or a duplicate."""
        count_answer(tally, message_id, status, answer, took)
        with tally.lock:
            tally.resent += attempt > 0
            tally.duplicate += 200 <= status < 300 and answer.get("status") == "duplicate"


def _post(conn: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, dict]:
    """(status, JSON answer) of one POST; (0, {}) when nothing answered. The connection is
    opened again by the next request after a failure."""
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        return 0, {}
    if 200 <= response.status < 300:
        return response.status, json.loads(raw)
    return response.status, {}


# --- CPU per tier -----------------------------------------------------------------------------


def tier_of(role: str, name: str) -> str:
    """The tier a started process belongs to in the CPU figures."""
    if role == "lb":
        return "nginx"
    if role in APIS:
        return "API"
    if name == STORAGE_QUEUE:
        return "drain"
    return {"redis": "Redis", "postgres": "PostgreSQL"}.get(name, "other")


class CpuMeter:
    """CPU seconds (user + system) of each tier's processes, their children included."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def snapshot(self) -> dict[int, tuple[str, float]]:
        """pid → (tier, CPU seconds so far) of every live process we started, and its children."""
        seen: dict[int, tuple[str, float]] = {}
        for (role, name), server in self.cluster.servers.items():
            try:
                leader = psutil.Process(server.pid)
                processes = [leader, *leader.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue  # a host we killed
            for process in processes:
                try:
                    times = process.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                seen[process.pid] = (tier_of(role, name), times.user + times.system)
        return seen

    @staticmethod
    def spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]):
        """Tier → CPU seconds spent between two snapshots."""
        spent: dict[str, float] = {}
        for pid, (tier, seconds) in after.items():
            spent[tier] = spent.get(tier, 0.0) + seconds - before.get(pid, (tier, 0.0))[1]
        return spent


# --- the scenario -----------------------------------------------------------------------------


@dataclass
class Scale:
    """One run: the cluster, its app and what was measured."""

    cluster: Cluster
    rate: float
    seconds: float
    settle: float = SETTLE_SECONDS
    write_key: str = ""
    db: Database | None = None
    rows: list[dict] = field(default_factory=list)
    throughput: list[dict] = field(default_factory=list)
    steady_cpu: dict[str, float] = field(default_factory=dict)
    takeover: dict = field(default_factory=dict)

    def prepare(self) -> None:
        self.db = Database(self.cluster.database_url)
        name = f"scale-{uuid.uuid4().hex[:6]}"
        self.write_key = json.loads(self.cluster.flask("client", "apps", "create", name, "--json"))[
            "write_key"
        ]

    def stream(self, run: str) -> Stream:
        lb = self.cluster.net.address("lb")
        return Stream(lb, BALANCED_PORT, self.write_key, run, self.rate)

    def phase(self, name: str, inject=None) -> dict:
        """Stream, inject the fault (if any) after a few seconds, stream on, then count."""
        run = f"scale-{name.split()[0]}-{uuid.uuid4().hex[:8]}"
        meter = CpuMeter(self.cluster)
        before = meter.snapshot()
        with self.stream(run) as stream:
            stream.wait(min(3.0, self.seconds))
            if inject is not None:
                inject()
            stream.wait(self.seconds)
        tally = stream.tally
        counts = settle(self.db, tally, run, timeout=self.settle)
        spent = meter.spent(before, meter.snapshot())
        row = {
            "fault": name,
            "sent": tally.sent,
            "2xx": len(tally.accepted),
            "503": tally.unavailable,
            "other": sum(tally.other.values()),
            "slow": tally.slow,
            "resent": tally.resent,
            "duplicate": tally.duplicate,
            "cpu": {tier: spent.get(tier, 0.0) / max(1, counts["stored"]) for tier in spent},
            **counts,
        }
        say(f"{name}: {row}")
        self.rows.append(row)
        return row

    def kill_draining_worker(self) -> None:
        """SIGKILL the worker host whose drain holds entries right now, then wait until the
        other worker host has stored them (the takeover)."""
        client = redis.Redis.from_url(self.cluster.redis_url)
        try:
            queue = EventQueue(client)
            role, consumer, held = self._freeze_draining(queue)
            processes = self.cluster.kill_host(role)
            killed_at = time.monotonic()
            task_ids = [m["task_id"] for entry in held for m in queue.messages(entry)]
            say(
                f"killed {role} ({processes} processes) while its drain {consumer} held "
                f"{len(held)} entries ({len(task_ids)} events)"
            )
            already = self._stored(task_ids)  # the INSERT may have committed before the kill
            self.takeover = {
                "host": role,
                "entries": len(held),
                "events": len(task_ids),
                "stored_before": already,
            }
            done = self._wait_takeover(queue, held, task_ids, killed_at)
            self.takeover.update(done)
        finally:
            client.close()

    def _freeze_draining(self, queue: EventQueue) -> tuple[str, str, list[bytes]]:
        """(worker host, consumer, entries it holds) of a drain caught holding entries, its
        host's processes stopped (SIGSTOP) on the spot. A batch is held for milliseconds only,
        so the kill could land after its acknowledgement: frozen, the host dies mid-batch."""
        hosts = {self.cluster.net.hosts[role].hostname: role for role in WORKERS}
        pids = {role: self.cluster.net.pids(role) for role in WORKERS}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for name, pending in queue.consumers():
                role = hosts.get(name.rsplit(":", 1)[0])  # a drain is host name:pid
                if not (role and pending):
                    continue
                _signal(pids[role], signal.SIGSTOP)
                if held := queue.pending(name):
                    return role, name, held
                _signal(pids[role], signal.SIGCONT)  # it acknowledged just before: look again
        raise RuntimeError("no worker host held stream entries for 20 s: is anything draining?")

    def _wait_takeover(
        self, queue: EventQueue, held: list[bytes], task_ids: list[str], killed_at: float
    ) -> dict:
        """Seconds from the kill until no consumer holds the dead one's entries any more and
        their events are stored."""
        times: dict[str, float] = {}

        def taken_over() -> bool:
            pending = set(queue.pending())
            if "claimed" not in times and not pending & set(held):
                times["claimed"] = time.monotonic() - killed_at
            if "claimed" not in times:
                return False
            return self._stored(task_ids) == len(set(task_ids))

        try:
            wait_until(taken_over, TAKEOVER_TIMEOUT, "the takeover", interval=0.2)
        except TimeoutError:
            return {"seconds": None}
        return {"seconds": time.monotonic() - killed_at, "acked": times["claimed"]}

    def _stored(self, task_ids: list[str]) -> int:
        query = "SELECT count(DISTINCT task_id) FROM events WHERE task_id = ANY(%s)"
        return self.db.sql(query, task_ids)[0][0]

    def kill_api(self) -> None:
        processes = self.cluster.kill_host("api2")
        say(f"killed api2 ({processes} processes)")

    def nginx_passed_on(self) -> int:
        """Requests nginx sent to the other API host after api2 failed them (its error log)."""
        log = self.cluster.folder / "lb" / "nginx" / "logs" / "error.log"
        address = f"//{self.cluster.net.address('api2')}:"  # any of its gunicorns' ports
        return sum(
            1 for line in log.read_text().splitlines() if address in line and "[error]" in line
        )

    def resend_across_apis(self, events: int = 5) -> dict:
        """The same events sent to each API host in turn, as nginx resends a POST whose API
        host died: the second copy must be answered `duplicate` and stored no second time."""
        run = f"scale-resend-{uuid.uuid4().hex[:8]}"
        tally = StreamTally()
        path = f"/api/logs/{self.write_key}"
        for _ in range(events):
            message_id = str(uuid.uuid4())
            event = {
                "eventName": "scale_resend",
                "messageId": message_id,
                "context": {"testRun": run},
            }
            for role in APIS:
                conn = http.client.HTTPConnection(
                    self.cluster.net.address(role), API_PORTS[0], timeout=5
                )
                started = time.monotonic()
                status, answer = _post(conn, path, json.dumps(event).encode())
                conn.close()
                Stream.count(tally, message_id, status, answer, time.monotonic() - started, 0)
        counts = settle(self.db, tally, run, timeout=self.settle)
        row = {
            "fault": "API host resend",
            "sent": tally.sent,
            "2xx": len(tally.accepted),
            "503": tally.unavailable,
            "other": sum(tally.other.values()),
            "slow": tally.slow,
            "resent": events,
            "duplicate": tally.duplicate,
            "cpu": {},
            **counts,
        }
        say(f"API host resend: {row}")
        self.rows.append(row)
        return row

    def measure_throughput(self, rounds: int, seconds: int) -> None:
        """wrk through nginx against both API hosts and against one, alternating; then one
        round of batches (what SDKs send) against both."""
        script = self.cluster.folder / "client" / "post.lua"
        script.parent.mkdir(parents=True, exist_ok=True)
        script.write_text(WRK_SCRIPT)
        configs = [("2 API hosts", BALANCED_PORT), ("1 API host", ONE_API_PORT)]
        self._wrk("warm-up", BALANCED_PORT, script, 3)  # first requests load code and caches
        for number in range(rounds):
            for label, port in configs if number % 2 == 0 else configs[::-1]:
                self.throughput.append(self._wrk(label, port, script, seconds))
        label = f"batch {BATCH}, 2 API"
        self.throughput.append(self._wrk(label, BALANCED_PORT, script, seconds, BATCH))

    def _wrk(self, label: str, port: int, script: Path, seconds: int, batch: int = 1) -> dict:
        run = f"scale-wrk-{port}-{uuid.uuid4().hex[:8]}"
        meter = CpuMeter(self.cluster)
        before = meter.snapshot()
        path = f"/api/logs/{self.write_key}" + ("/batch" if batch > 1 else "")
        connections = 16 if batch == 1 else 8  # as `make bench`
        args = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script)]
        args += [self.cluster.url(port), "--", path, run, str(batch)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # wrk's own CPU, from its rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        out = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
        if proc.returncode:
            raise RuntimeError(f"wrk failed: {out}")
        summary = json.loads(out.strip().splitlines()[-1])
        errors = sum(summary[k] for k in ("connect", "read", "write", "timeout"))
        accepted = (summary["requests"] - summary["status_errors"]) * batch  # events
        stored_query = "SELECT count(DISTINCT message_id), count(*) FROM events WHERE test_run = %s"
        counts: list[tuple] = []

        def caught_up() -> bool:
            counts[:] = self.db.sql(stored_query, run)
            return counts[0][0] >= accepted

        started = time.monotonic()
        try:
            wait_until(caught_up, self.settle, "the stored events", interval=0.2)
        except TimeoutError:
            pass
        caught_up_after = time.monotonic() - started
        spent = meter.spent(before, meter.snapshot())
        spent["wrk"] = usage.ru_utime + usage.ru_stime
        stored, rows = counts[0]
        row = {
            "config": label,
            "rate": accepted / (summary["duration_us"] / 1e6),
            "accepted": accepted,
            "refused": summary["status_errors"],
            "errors": errors,
            "stored": stored,
            "twice": rows - stored,
            "lost": max(0, accepted - stored),
            "caught_up": caught_up_after,
            "cpu": {tier: value / max(1, accepted) for tier, value in spent.items()},
        }
        say(f"{label}: {row}")
        return row


# wrk: events with a messageId each of their own, all in one test run, one per request or
# {"events": [...]} of `size`; prints its summary as JSON. Arguments: path, test run, size.
WRK_SCRIPT = """\
local counter, threads = 0, 0
function setup(thread)
  threads = threads + 1
  thread:set("number", threads)
end
function init(args)
  path, run, size = args[1], args[2], tonumber(args[3])
  prefix = run .. "-" .. number .. "-"
end
local function event()
  counter = counter + 1
  return '{"eventName":"scale_wrk","messageId":"' .. prefix .. counter ..
    '","n":1,"context":{"testRun":"' .. run .. '"}}'
end
function request()
  local body
  if size == 1 then
    body = event()
  else
    local events = {}
    for i = 1, size do events[i] = event() end
    body = '{"events":[' .. table.concat(events, ",") .. ']}'
  end
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"timeout":%d}\\n', summary.requests, summary.duration, e.status, e.connect,
    e.read, e.write, e.timeout))
end
"""


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class EventQueue:
    """The stream accepted events wait in, and its one consumer group: found by looking, as
    stack/ never imports the app (its layout: app/services/ingestion/event_stream.py)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.stream = event_stream(client)
        groups = client.xinfo_groups(self.stream)
        if len(groups) != 1:
            raise RuntimeError(f"expected one consumer group on the stream, found {groups}")
        self.group = groups[0]["name"]

    def consumers(self) -> list[tuple[str, int]]:
        """(name, entries read but not acknowledged) of each consumer holding any."""
        summary = self.client.xpending(self.stream, self.group)
        return [(c["name"].decode(), c["pending"]) for c in summary["consumers"]]

    def pending(self, consumer: str | None = None) -> list[bytes]:
        """Ids of the entries read and not yet acknowledged (by `consumer`, else by anyone)."""
        entries = self.client.xpending_range(
            self.stream, self.group, "-", "+", 100_000, consumername=consumer
        )
        return [entry["message_id"] for entry in entries]

    def messages(self, entry_id: bytes) -> list[dict]:
        """The event messages of one entry: its one field holds them as a JSON array."""
        entries = self.client.xrange(self.stream, entry_id, entry_id)
        return [m for _, fields in entries for value in fields.values() for m in json.loads(value)]


# --- output -----------------------------------------------------------------------------------


def print_results(scale: Scale) -> None:
    print_table(scale.rows)
    for row in scale.rows:
        if row["fault"] == "API host resend":
            print(
                f"{row['fault']}: {row['resent']} events each posted to api1, then the same to "
                f"api2 (as nginx resends a POST): {row['duplicate']} answered duplicate"
            )
            continue
        print(
            f"{row['fault']}: {row['resent']} sent again (same messageId) after a 503 or no "
            f"answer; {row['duplicate']} answered duplicate"
            + (
                f"; nginx passed {row['passed_on']} failed requests of api2 on to api1"
                if "passed_on" in row
                else ""
            )
        )
    takeover = scale.takeover
    if takeover:
        seconds = takeover.get("seconds")
        print(
            f"\ntakeover: {takeover['host']} was frozen (SIGSTOP) the moment its drain was seen "
            f"holding entries, then SIGKILLed, holding {takeover['entries']} stream "
            f"entries ({takeover['events']} events; {takeover['stored_before']} of them stored "
            "before the kill: INSERTed, not yet acknowledged); "
            + (
                f"acknowledged by the other host after {takeover['acked']:.1f} s, all stored "
                f"after {seconds:.1f} s (claim idle time 60 s)"
                if seconds is not None
                else f"NOT stored within {TAKEOVER_TIMEOUT} s"
            )
        )
    steady = next((r for r in scale.rows if r["fault"] == "steady"), None)
    if steady:
        print(f"\nCPU per event at {scale.rate:.0f} events/s offered (steady phase):")
        print_cpu([("steady", steady["cpu"])])
    if scale.throughput:
        print(
            "\nthroughput through nginx (wrk -t1; single events -c16, rounds alternating; "
            f"then batches of {BATCH}, -c8):"
        )
        print(
            f"{'config':>16}  {'events/s':>10}  {'refused':>7}  {'stored':>7}  {'twice':>5}  "
            f"{'lost':>4}  {'stored after':>12}"
        )
        for row in scale.throughput:
            print(
                f"{row['config']:>16}  {row['rate']:>10.0f}  {row['refused']:>7}  "
                f"{row['stored']:>7}  {row['twice']:>5}  {row['lost']:>4}  "
                f"{row['caught_up']:>11.1f}s"
            )
        print("\nCPU per accepted event in those rounds:")
        print_cpu([(row["config"], row["cpu"]) for row in scale.throughput])


def print_cpu(rows: list[tuple[str, dict[str, float]]]) -> None:
    """µs of CPU per event for each tier, the stack's sum, and cores per 10,000 events/s."""
    columns = [*TIERS, "other", "stack", "cores/10k/s", "wrk"]
    print(f"{'':>16}  " + "  ".join(f"{c:>11}" for c in columns))
    for label, cpu in rows:
        stack_seconds = sum(cpu.get(tier, 0.0) for tier in (*TIERS, "other"))
        values = [cpu.get(tier, 0.0) * 1e6 for tier in (*TIERS, "other")]
        cells = [f"{v:>9.0f}µs" for v in values]
        cells += [f"{stack_seconds * 1e6:>9.0f}µs", f"{stack_seconds * 1e4:>11.2f}"]
        cells += [f"{cpu['wrk'] * 1e6:>9.0f}µs" if "wrk" in cpu else f"{'':>11}"]
        print(f"{label:>16}  " + "  ".join(cells))
    print(
        "(CPU seconds of each host's processes over the window, until every accepted event was "
        "stored, per event; other: beat and the idle queues' workers)"
    )


def failures(scale: Scale) -> list[str]:
    """What makes the run fail: anything lost or stored twice, or a takeover that never came."""
    failed = [r["fault"] for r in scale.rows if r["lost"] or r["twice"]]
    failed += [r["config"] for r in scale.throughput if r["lost"] or r["twice"]]
    if scale.takeover and (scale.takeover.get("seconds") is None or not scale.takeover["entries"]):
        failed.append("takeover")
    return failed


# --- entry point ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m stack.scale", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--rate", type=float, default=300, help="events/s of the stream")
    parser.add_argument(
        "--seconds", type=float, default=10, help="stream length of a phase after its fault"
    )
    parser.add_argument(
        "--phases",
        default="steady,worker,api",
        help="comma-separated: steady, worker (kill a worker host), api (kill an API host)",
    )
    parser.add_argument(
        "--settle", type=float, default=SETTLE_SECONDS, help="seconds to wait for events stored"
    )
    parser.add_argument("--rounds", type=int, default=2, help="wrk rounds per config (0: none)")
    parser.add_argument("--round-seconds", type=int, default=8, help="length of one wrk round")
    parser.add_argument(
        "--queues",
        default=",".join(QUEUES),
        help=f"queues with a worker on each worker host (the events need only {STORAGE_QUEUE})",
    )
    parser.add_argument(
        "--folder", type=Path, default=FOLDER, help="data and logs of the hosts (emptied first)"
    )
    parser.add_argument(
        "--clean", action="store_true", help="remove namespaces a killed run left behind, and exit"
    )
    return parser.parse_args(argv)


def fresh_folder(folder: Path) -> None:
    """Empty `folder` for this run: only one an earlier run made, never any other folder."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MARKER).exists():
        sys.exit(f"{folder} holds files this command did not make; give another --folder")
    shutil.rmtree(folder, ignore_errors=True)
    make_private_folder(folder)  # it holds the database password
    (folder / MARKER).touch()


def say(message: str) -> None:
    """A progress line, with the seconds since the command started."""
    print(f"[{time.monotonic() - _STARTED:5.1f} s] {message}", flush=True)


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the clean-up below


def main(argv: list[str] | None = None) -> int:
    """Run the hosts and the scenario; 0 when nothing was lost or stored twice."""
    args = parse_args(argv)
    if args.clean:
        for name in netns.stale():
            netns.delete(name)
            print(f"removed {name}")
        return 0
    phases = set(args.phases.split(","))
    if unknown := phases - {"steady", "worker", "api"}:
        sys.exit(f"unknown phases: {', '.join(sorted(unknown))}")
    if STORAGE_QUEUE not in args.queues.split(",") or set(args.queues.split(",")) - set(QUEUES):
        sys.exit(f"--queues: some of {', '.join(QUEUES)}, {STORAGE_QUEUE} among them")
    if reason := netns.permitted():
        sys.exit(f"make scale needs network namespaces: {reason}")
    if leftovers := netns.stale():
        print(f"left by a killed run (python -m stack.scale --clean removes them): {leftovers}")
    print(f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    fresh_folder(args.folder)
    signal.signal(signal.SIGTERM, _terminate)
    net = netns.Network(ROLES)
    cluster = Cluster(net, args.folder, tuple(args.queues.split(",")))
    scale = Scale(cluster, args.rate, args.seconds, args.settle)
    started = time.monotonic()
    try:
        net.create()
        net.enter("client")  # this process talks to the hosts as the client host
        cluster.start()
        say(f"{len(ROLES)} hosts up")
        scale.prepare()
        if args.rounds:
            scale.measure_throughput(args.rounds, args.round_seconds)
        if "steady" in phases:
            scale.phase("steady")
        if "worker" in phases:
            scale.phase("worker host SIGKILL", scale.kill_draining_worker)
        if "api" in phases:
            scale.resend_across_apis()
            row = scale.phase("API host SIGKILL", scale.kill_api)
            row["passed_on"] = scale.nginx_passed_on()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            say("stopping")
            cluster.stop()
        finally:
            net.remove()
            say("stopped; namespaces removed")
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    print_results(scale)
    (args.folder / "results.json").write_text(
        json.dumps(
            {"rows": scale.rows, "throughput": scale.throughput, "takeover": scale.takeover},
            indent=2,
        )
    )
    print(f"\ntook {time.monotonic() - started:.0f} s; logs in {args.folder}")
    failed = failures(scale)
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
