"""Local Redis, PostgreSQL and nginx from installed binaries, and the product's own processes
(gunicorn, Celery workers, beat), each started by one function here.

Used by `make up` (stack/__main__.py), the load tests and the tests' fixtures. Every process runs
in its own session (process group) and is stopped by the PID we started, never by name.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

# The checkout (gunicorn.conf.py, run.py, start_celery_worker.sh) and the virtualenv's scripts.
ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class Server:
    """A process we started, and how to reach it."""

    name: str
    pid: int
    url: str = ""
    stop_signal: int = signal.SIGTERM
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 30) -> None:
        """Stop the process group we started, and wait for it to be gone."""
        stop_process_group(self.pid, self.stop_signal, timeout)


def stop_process_group(pid: int, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal the process group led by `pid`; SIGKILL what is left after `timeout` seconds."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pid):
            _reap(pid)
            return
        _reap(pid)
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _reap(pid)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Zombies count as gone: a process group of only zombies does no work.
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _reap(pid: int) -> None:
    proc = _CHILDREN.get(pid)
    if proc is not None:  # let Popen collect its own child, so it knows the child is gone
        if proc.poll() is not None:
            del _CHILDREN[pid]
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:port."""
    with socket.socket() as probe:
        # Like the servers themselves: connections in TIME_WAIT do not make a port taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(check, timeout: float, what: str, interval: float = 0.05) -> None:
    """Poll `check()` until it returns truthy; TimeoutError naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # the server is still starting
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"{what} did not come up within {timeout}s (last error: {last_error})")


# Children started by this process, kept referenced until they are stopped and reaped.
_CHILDREN: dict[int, subprocess.Popen] = {}


def spawn(args: list[str], log: Path, **kwargs) -> subprocess.Popen:
    """Start `args` in a session of its own (stop it with stop_process_group), stdout and stderr
    appended to `log`; keyword arguments go to subprocess.Popen (cwd, env, user...)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            **kwargs,
        )
    _CHILDREN[proc.pid] = proc
    return proc


# --- Redis -----------------------------------------------------------------------------------

REDIS_CONF = """\
bind {host}
port {port}
dir {dir}
daemonize no
logfile {dir}/redis.log
# A 2xx promises the event is queued: keep the queue on disk, fsynced every second.
appendonly {appendonly}
appendfsync everysec
save ""
# Never drop a queued message to make room: refuse writes instead (the API answers 503).
maxmemory {maxmemory}
maxmemory-policy noeviction
"""


def start_redis(
    folder: Path,
    port: int,
    appendonly: bool = True,
    maxmemory: str = "1gb",
    host: str = "127.0.0.1",
) -> Server:
    """A redis-server on host:port (127.0.0.1 unless told) with its data in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "redis.conf"
    conf.write_text(
        REDIS_CONF.format(
            host=host,
            port=port,
            dir=folder,
            appendonly="yes" if appendonly else "no",
            maxmemory=maxmemory,
        )
        # Redis takes only loopback clients without a password; another address is one on a
        # private network (`make scale`'s bridge), where the other hosts must reach it.
        + ("" if host == "127.0.0.1" else "protected-mode no\n")
    )
    proc = spawn([shutil.which("redis-server") or "redis-server", str(conf)], folder / "stdout.log")
    url = f"redis://{host}:{port}/0"
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    wait_until(client.ping, 20, f"redis on {host}:{port}")
    client.close()
    return Server("redis", proc.pid, url)


# --- PostgreSQL ------------------------------------------------------------------------------


def postgres_bindir() -> Path:
    """The folder of the installed PostgreSQL server binaries (newest version)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=_version_key)
    if candidates:
        return Path(candidates[-1]).parent
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise FileNotFoundError("PostgreSQL server binaries not found; run `make system-packages`")


def _version_key(path: str) -> int:
    try:
        return int(Path(path).parts[-3])
    except ValueError:
        return 0


def make_private_folder(folder: Path) -> None:
    """Create `folder` (or tighten one an older run left open) so only its owner lists it."""
    folder.mkdir(parents=True, exist_ok=True)
    # As root, PostgreSQL runs as `postgres` and nginx's workers as `nobody`: they must pass
    # through to their own folders inside, so others keep search (x) but not read (r).
    folder.chmod(0o711 if os.geteuid() == 0 else 0o700)


def write_private(path: Path, text: str) -> None:
    """Write `text` readable by its owner only (0600), also over a file left readable."""
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)  # before the secret goes in
    path.write_text(text)


def _as_postgres_user() -> dict:
    # initdb and postgres refuse to run as root: run them as the `postgres` system user.
    if os.geteuid() != 0:
        return {}
    import pwd

    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def start_postgres(
    folder: Path,
    port: int,
    durable: bool = True,
    database: str = "lvd",
    host: str = "127.0.0.1",
    clients: str = "",
    shared_buffers: str | None = None,
) -> Server:
    """A PostgreSQL server on host:port (127.0.0.1 unless told) with its cluster in `folder`,
    and `database` in it; `clients`, an address range such as 10.18.0.0/24, may log in with
    the password from there too (loopback always may); `shared_buffers`, e.g. "32MB", instead
    of PostgreSQL's default of 128MB."""
    bindir = postgres_bindir()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data"
    creds = folder / "credentials"
    as_user = _as_postgres_user()
    if as_user:
        os.chown(folder, as_user["user"], as_user["group"])
    if not (data / "PG_VERSION").exists():
        password = secrets.token_hex(16)
        pwfile = folder / "pwfile"
        write_private(pwfile, password + "\n")
        if as_user:
            os.chown(pwfile, as_user["user"], as_user["group"])
        subprocess.run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "lvd",
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-locale",
            ],
            check=True,
            capture_output=True,
            **as_user,
        )
        pwfile.unlink()
        write_private(creds, password)
    creds.chmod(0o600)  # an older run wrote it readable by all
    password = creds.read_text().strip()
    if clients:
        _allow_clients(data / "pg_hba.conf", clients)
    settings = ["-c", f"listen_addresses={host}", "-c", f"unix_socket_directories={folder}"]
    if shared_buffers:
        settings += ["-c", f"shared_buffers={shared_buffers}"]
    if not durable:  # tests: speed over crash safety
        settings += [
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
        ]
    log = folder / "postgres.log"
    log.touch()
    if as_user:
        os.chown(log, as_user["user"], as_user["group"])
    proc = spawn(
        [str(bindir / "postgres"), "-D", str(data), "-p", str(port), *settings], log, **as_user
    )
    admin = f"postgresql://lvd:{password}@{host}:{port}/postgres"
    wait_until(
        lambda: psycopg.connect(admin, connect_timeout=1).close() or True,
        60,
        f"postgres on {host}:{port}",
        interval=0.1,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql://lvd:{password}@{host}:{port}/{database}"
    # SIGINT is PostgreSQL's "fast" shutdown: roll back sessions, checkpoint, exit.
    return Server("postgres", proc.pid, url, stop_signal=signal.SIGINT)


def _allow_clients(hba: Path, clients: str) -> None:
    # Password logins from `clients`, once: initdb's file allows only loopback.
    line = f"host all all {clients} scram-sha-256\n"
    text = hba.read_text()
    if line not in text:
        hba.write_text(text + line)


# --- nginx -----------------------------------------------------------------------------------


def start_nginx(folder: Path, conf_text: str, port: int) -> Server:
    """nginx in the foreground of its own session, with every path inside `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "logs").mkdir(exist_ok=True)
    (folder / "tmp").mkdir(exist_ok=True)
    conf = folder / "nginx.conf"
    conf.write_text(conf_text)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = spawn(
        [nginx, "-p", str(folder), "-c", str(conf), "-g", "daemon off;"],
        folder / "logs" / "stdout.log",
    )

    def listening() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True

    wait_until(listening, 20, f"nginx on port {port}")
    # SIGQUIT: graceful shutdown (finish requests in flight).
    return Server("nginx", proc.pid, f"http://127.0.0.1:{port}", stop_signal=signal.SIGQUIT)


# --- the product's processes -----------------------------------------------------------------


def _env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env}


def _started(server: Server, wait: bool, check, what: str) -> Server:
    # A process that never came up is stopped, not left behind for the caller to find.
    if wait:
        try:
            wait_until(check, 60, what, interval=0.1)
        except BaseException:
            server.stop()
            raise
    return server


def healthy(url: str) -> bool:
    """Whether `url`/healthz answers 200."""
    with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
        return response.status == 200


def start_gunicorn(
    env: dict[str, str],
    log: Path,
    port: int,
    workers: int | None = None,
    module: str = "run:app",
    wait: bool = True,
    options: tuple[str, ...] = (),
    host: str = "127.0.0.1",
) -> Server:
    """gunicorn with gunicorn.conf.py serving `module` on host:port (127.0.0.1 unless told;
    `workers` processes, else the configuration's number; `options` override more of it, e.g.
    the worker class); with `wait`, returns once /healthz answers 200."""
    args = [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "--bind", f"{host}:{port}"]
    if workers is not None:
        args += ["--workers", str(workers)]
    args += options
    proc = spawn([*args, module], log, cwd=ROOT, env=_env(env))
    server = Server("gunicorn", proc.pid, f"http://{host}:{port}")
    return _started(server, wait, lambda: healthy(server.url), f"gunicorn on {host}:{port}")


def start_granian(
    env: dict[str, str],
    log: Path,
    port: int,
    workers: int,
    threads: int,
    module: str = "run:app",
    wait: bool = True,
    host: str = "127.0.0.1",
) -> Server:
    """granian (the Rust WSGI server, `API_SERVER=granian`) serving `module` on host:port with
    `workers` processes of `threads` threads each, replaced when they die and recycled daily
    (as gunicorn's max_requests does); with `wait`, returns once /healthz answers 200."""
    args = [
        str(BIN / "granian"),
        "--interface",
        "wsgi",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--blocking-threads",
        str(threads),
        "--http",
        "1",
        "--no-ws",
        "--no-access-log",
        "--respawn-failed-workers",
        "--workers-lifetime",
        "86400",
        "--workers-kill-timeout",
        "30",
    ]
    proc = spawn([*args, module], log, cwd=ROOT, env=_env(env))
    server = Server("granian", proc.pid, f"http://{host}:{port}")
    return _started(server, wait, lambda: healthy(server.url), f"granian on {host}:{port}")


def start_worker(
    env: dict[str, str],
    log: Path,
    queue: str = "all",
    concurrency: int | None = None,
    wait: bool = True,
) -> Server:
    """A Celery worker for one queue profile through start_celery_worker.sh (its limits); with
    `wait`, returns once the worker logged that it is ready."""
    args = ["./start_celery_worker.sh", queue]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    proc = spawn(args, log, cwd=ROOT, env={**_env(env), "CELERY": str(BIN / "celery")})
    server = Server(f"worker-{queue}", proc.pid)
    return _started(server, wait, lambda: worker_ready(log), f"the {queue} worker")


def worker_ready(log: Path) -> bool:
    """Whether the worker writing `log` said it is ready for tasks."""
    return " ready." in log.read_text()


def start_beat(env: dict[str, str], log: Path, schedule: Path, wait: bool = True) -> Server:
    """Celery beat keeping its schedule in `schedule`; with `wait`, returns once it started."""
    # The light app: beat needs the broker and the schedule, not the service (celery_light.py).
    args = [str(BIN / "celery"), "-A", "celery_light", "beat", "--loglevel", "INFO"]
    proc = spawn([*args, "--schedule", str(schedule)], log, cwd=ROOT, env=_env(env))
    server = Server("beat", proc.pid)
    return _started(server, wait, lambda: "beat: Starting" in log.read_text(), "celery beat")
