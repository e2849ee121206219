"""`python -m stack up|down`: the full profile from installed binaries, kept in var/full.

`up` starts Redis and PostgreSQL (unless REDIS_URL / DATABASE_URL are given), migrates, then
gunicorn, one Celery worker per queue, beat and nginx; it records every PID it started and the
URLs (var/full/stack.env, which the configuration reads), and returns once everything answers.
`down` stops exactly those PIDs and removes the records.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

from celery_config import QUEUES
from stack.servers import (
    BIN,
    ROOT,
    free_port,
    make_private_folder,
    port_is_free,
    spawn,
    start_beat,
    start_granian,
    start_gunicorn,
    start_nginx,
    start_postgres,
    start_redis,
    start_worker,
    stop_process_group,
    wait_until,
    write_private,
)

FULL = ROOT / "var" / "full"
STACK_FILE = FULL / "stack.env"
PIDS_FILE = FULL / "pids.json"
LOGS = FULL / "logs"
API_PORT, NGINX_PORT, FLOWER_PORT = 8000, 8080, 5555
# One gunicorn (of one worker process) per core, on API_PORT and the ports after it, and nginx
# spreads requests over them. One gunicorn of several workers does not spread its load: a gthread
# worker keeps each keep-alive connection it accepted, and the one whose poller is awake accepts
# most of nginx's, so one worker (one GIL, one core) did nearly all the work
# (docs/perf/wsgi-servers.md). API_PROCESSES changes the number.
API_PROCESSES = int(os.environ.get("API_PROCESSES") or os.cpu_count() or 2)
# API_SERVER=granian serves the API with granian, the Rust WSGI server, instead: one granian of
# API_PROCESSES workers (it spreads connections over them itself), each with as many threads
# as a gunicorn worker. It costs about half gunicorn's CPU per request (docs/performance.md).
API_SERVER = "gunicorn"
API_PORTS: tuple[int, ...] = ()
API_NAMES: tuple[str, ...] = ()


def use_server(name: str) -> None:
    """Serve the API with `name`, gunicorn or granian (API_SERVER's choice, or a benchmark's
    for some of its rows): the API processes' names and ports follow."""
    global API_SERVER, API_PORTS, API_NAMES
    if name not in ("gunicorn", "granian"):
        sys.exit(f"API_SERVER is gunicorn or granian, not {name!r}")
    API_SERVER = name
    if name == "granian":
        API_PORTS, API_NAMES = (API_PORT,), ("granian",)
    else:
        API_PORTS = tuple(API_PORT + n for n in range(API_PROCESSES))
        API_NAMES = tuple(f"gunicorn-{n + 1}" if n else "gunicorn" for n in range(API_PROCESSES))


use_server(os.environ.get("API_SERVER") or "gunicorn")
# Threads of each API process: those long-polls may never take, and the long-polls' own
# (gunicorn.conf.py reads the same two settings).
API_THREADS = int(os.environ.get("GUNICORN_THREADS", "4")) + int(
    os.environ.get("TASK_WAITS_PER_PROCESS", "4")
)
# PostgreSQL's page cache, within the stack's 1 GiB: batch load touched nearly all of the default
# 128 MB (PSS of PostgreSQL ~190 MiB at peak, ~90 with 32 MB) at no measurable CPU per event; the
# kernel's page cache still holds what it evicts (docs/perf/memory.md).
POSTGRES_SHARED_BUFFERS = "32MB"
FLOWER_PASSWORD_FILE = FULL / "flower_password"
STOP_SIGNALS = {"nginx": signal.SIGQUIT, "postgres": signal.SIGINT}


def use_folder(folder: Path) -> None:
    """Keep the stack's data, logs and records in `folder` instead of var/full (`make bench`
    measures a fresh stack each time, and leaves the one of `make up` alone)."""
    global FULL, STACK_FILE, PIDS_FILE, LOGS, FLOWER_PASSWORD_FILE
    FULL = folder
    STACK_FILE, PIDS_FILE, LOGS = folder / "stack.env", folder / "pids.json", folder / "logs"
    FLOWER_PASSWORD_FILE = folder / "flower_password"


def record_pids(pids: dict[str, int]) -> None:
    """Remember the PIDs `down` must stop."""
    PIDS_FILE.write_text(json.dumps(pids, indent=2))


def read_settings() -> dict[str, str]:
    """The URLs `up` recorded for the running stack."""
    return dict(line.split("=", 1) for line in STACK_FILE.read_text().splitlines() if "=" in line)


def render_nginx_conf(port: int, app_servers: list[str], flower_port: int, htpasswd: Path) -> str:
    """nginx/nginx.conf with its placeholders filled in; `app_servers` are the gunicorns'
    host:port addresses."""
    conf = (ROOT / "nginx" / "nginx.conf").read_text()
    servers = "\n".join(f"        server {address};" for address in app_servers)
    values = {"PORT": port, "FLOWER_PORT": flower_port, "HTPASSWD": htpasswd}
    conf = conf.replace("        @APP_SERVERS@", servers)
    for name, value in values.items():
        conf = conf.replace(f"@{name}@", str(value))
    return conf


def write_htpasswd(path: Path, user: str, password: str) -> None:
    """An htpasswd file of one user for nginx: {SSHA} is base64(sha1(password + salt) + salt)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n")
    # nginx's worker reads it on each request, as `nobody` when nginx was started as root; it
    # holds only a salted hash.
    path.chmod(0o644)


def flower_credentials() -> tuple[str, str]:
    """FLOWER_USER / FLOWER_PASSWORD, else admin and a random password kept across restarts."""
    user = os.environ.get("FLOWER_USER") or "admin"
    password = os.environ.get("FLOWER_PASSWORD", "")
    if password:
        return user, password
    if not FLOWER_PASSWORD_FILE.exists():
        write_private(FLOWER_PASSWORD_FILE, secrets.token_urlsafe(18) + "\n")
    return user, FLOWER_PASSWORD_FILE.read_text().strip()


def flower_command(port: int, db: Path) -> list[str]:
    """Flower on 127.0.0.1 only (nginx serves it at /flower/), persisting nothing; on the light
    Celery app (broker and schedule, none of the service's code: celery_light.py)."""
    return [
        str(BIN / "celery"),
        "-A",
        "celery_light",
        "flower",
        "--address=127.0.0.1",
        f"--port={port}",
        "--url_prefix=flower",
        f"--db={db}",
        "--persistent=False",
    ]


def flower_env(env: dict[str, str], user: str, password: str) -> dict[str, str]:
    """Flower's environment: its own basic auth too (anyone on this host reaches its port
    without nginx), passed in the environment because a command line is visible to `ps`.
    Flower uses prometheus_client as well: without our metrics folder, or it would write its
    series there."""
    if "," in user + password or ":" in user:  # Flower splits its option at commas
        sys.exit("FLOWER_USER and FLOWER_PASSWORD cannot hold a comma (nor the user a colon)")
    flower = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    return {**flower, "FLOWER_BASIC_AUTH": f"{user}:{password}"}


def _port(preferred: int) -> int:
    return preferred if port_is_free(preferred) else free_port()


def _get(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def up() -> None:
    """Start the full profile and return once it answers."""
    if PIDS_FILE.exists():
        sys.exit(
            "the full profile is already up (var/full/pids.json exists); run `make down` first"
        )
    for port in (*API_PORTS, NGINX_PORT):
        if not port_is_free(port):
            sys.exit(f"port {port} is taken; stop whatever listens there first")
    make_private_folder(FULL)  # it holds the database password (stack.env, credentials)
    pids: dict[str, int] = {}
    try:
        _up(pids)
    except BaseException:
        print("start-up failed; stopping what was started", file=sys.stderr)
        down()
        raise


def _up(pids: dict[str, int]) -> None:
    # gunicorn is reached through nginx, the one proxy whose X-Forwarded-For/-Proto it believes
    # (login limits then count each client's own address, not nginx's 127.0.0.1).
    settings = {"LVD_PROFILE": "full", "LVD_DATA_DIR": str(FULL), "TRUSTED_PROXIES": "1"}
    settings["REDIS_URL"] = os.environ.get("REDIS_URL", "")
    if not settings["REDIS_URL"]:
        server = start_redis(FULL / "redis", _port(6390))
        pids["redis"] = server.pid
        record_pids(pids)
        settings["REDIS_URL"] = server.url
    settings["DATABASE_URL"] = os.environ.get("DATABASE_URL", "")
    if not settings["DATABASE_URL"]:
        server = start_postgres(
            FULL / "postgres", _port(5440), shared_buffers=POSTGRES_SHARED_BUFFERS
        )
        pids["postgres"] = server.pid
        record_pids(pids)
        settings["DATABASE_URL"] = server.url
    write_private(STACK_FILE, "".join(f"{k}={v}\n" for k, v in settings.items()))
    # gunicorn's and the workers' processes count metrics in files here, and /metrics adds them
    # up (app/metrics.py); emptied at each start so dead processes' files do not pile up.
    metrics = FULL / "metrics"
    shutil.rmtree(metrics, ignore_errors=True)
    metrics.mkdir(parents=True)
    env = {**os.environ, **settings, "PROMETHEUS_MULTIPROC_DIR": str(metrics)}

    subprocess.run(
        [str(BIN / "flask"), "--app", "run", "db", "upgrade"], cwd=ROOT, env=env, check=True
    )
    if API_SERVER == "granian":
        log = LOGS / "granian.log"
        pids["granian"] = start_granian(
            env, log, API_PORT, API_PROCESSES, API_THREADS, wait=False
        ).pid
        record_pids(pids)
    for name, port in zip(API_NAMES, API_PORTS, strict=True):
        if API_SERVER == "gunicorn":
            gunicorn = start_gunicorn(env, LOGS / f"{name}.log", port, workers=1, wait=False)
            pids[name] = gunicorn.pid
            record_pids(pids)
    for queue in QUEUES:
        worker = start_worker(env, LOGS / f"worker-{queue}.log", queue, wait=False)
        pids[f"worker-{queue}"] = worker.pid
        record_pids(pids)
    beat = start_beat(env, LOGS / "beat.log", FULL / "celerybeat-schedule", wait=False)
    pids["beat"] = beat.pid
    record_pids(pids)
    flower_user, flower_password = flower_credentials()
    flower = spawn(
        flower_command(FLOWER_PORT, FULL / "flower.db"),
        LOGS / "flower.log",
        cwd=ROOT,
        env=flower_env(env, flower_user, flower_password),
    )
    pids["flower"] = flower.pid
    record_pids(pids)
    htpasswd = FULL / "nginx" / "htpasswd"
    write_htpasswd(htpasswd, flower_user, flower_password)
    conf = render_nginx_conf(
        NGINX_PORT, [f"127.0.0.1:{port}" for port in API_PORTS], FLOWER_PORT, htpasswd
    )
    pids["nginx"] = start_nginx(FULL / "nginx", conf, NGINX_PORT).pid
    record_pids(pids)

    for name, port in zip(API_NAMES, API_PORTS, strict=True):
        wait_until(lambda port=port: _get(f"http://127.0.0.1:{port}/healthz"), 60, name)
    wait_until(lambda: _get(f"http://127.0.0.1:{NGINX_PORT}/healthz"), 30, "nginx")
    wait_until(lambda: _get(f"http://127.0.0.1:{FLOWER_PORT}/flower/healthcheck"), 60, "flower")
    host = socket.gethostname()
    for queue in QUEUES:
        log = LOGS / f"worker-{queue}.log"
        wait_until(
            lambda log=log, queue=queue: f"{queue}@{host} ready." in log.read_text(),
            60,
            f"the {queue} worker",
            interval=0.2,
        )
    servers = ", ".join(f"http://127.0.0.1:{port}" for port in API_PORTS)
    print(
        f"full profile up: nginx http://127.0.0.1:{NGINX_PORT}  {API_SERVER} {servers}\n"
        f"  redis {settings['REDIS_URL']}\n  logs {LOGS}\n"
        f"  admin: .venv/bin/flask --app run apps create NAME --json\n"
        f"  flower: http://127.0.0.1:{NGINX_PORT}/flower/ (user {flower_user}, password "
        f"{'from FLOWER_PASSWORD' if os.environ.get('FLOWER_PASSWORD') else flower_password})"
    )


def _stop_rank(name: str) -> int:
    """Stop order: the front door first, the stores last, so nothing in flight loses its
    backend. By kind, not by the names this process would start: `down` stops what `up`
    recorded, whatever API_SERVER or API_PROCESSES said then."""
    if name.startswith(("gunicorn", "granian")):
        return 2
    return {"nginx": 0, "flower": 1, "beat": 3, "postgres": 5, "redis": 6}.get(name, 4)


def down() -> None:
    """Stop exactly what `up` started, then forget it."""
    pids = json.loads(PIDS_FILE.read_text()) if PIDS_FILE.exists() else {}
    for name in sorted(pids, key=_stop_rank):
        stop_process_group(pids[name], STOP_SIGNALS.get(name, signal.SIGTERM), timeout=30)
        print(f"stopped {name} (pid {pids[name]})")
    for path in (PIDS_FILE, STACK_FILE):
        path.unlink(missing_ok=True)


def main() -> None:
    """Entry point: up or down."""
    commands = {"up": up, "down": down}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        sys.exit("usage: python -m stack up|down")
    commands[sys.argv[1]]()


if __name__ == "__main__":
    main()
