"""A metered full stack: a real gunicorn (2 workers) and a real Celery worker (prefork) writing
their metrics to one multiprocess folder, as `make up` runs them."""

from __future__ import annotations

import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from stack.servers import _spawn, free_port, stop_process_group, wait_until
from tests.conftest import BIN, ROOT, flush_redis, full_env, start_worker


@dataclass
class MeteredStack:
    """Where the metered stack answers, and what it writes."""

    url: str
    metrics_dir: Path
    gunicorn_pid: int

    def gunicorn_workers(self) -> list[int]:
        """PIDs of gunicorn's worker processes."""
        return [child.pid for child in psutil.Process(self.gunicorn_pid).children()]


@pytest.fixture(scope="module")
def metered_stack(service_root, redis_server, postgres_server, tmp_path_factory):
    """gunicorn and a Celery worker with PROMETHEUS_MULTIPROC_DIR set to a folder of their own."""
    folder = tmp_path_factory.mktemp("prometheus-multiproc")
    logs = tmp_path_factory.mktemp("metered-stack")
    env = {
        **full_env(service_root, redis_server, postgres_server),
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    flush_redis(redis_server)  # nothing queued by earlier tests, whose rows are gone
    worker_pid = start_worker(env, logs / "worker.log")
    port = free_port()
    gunicorn = _spawn(
        [
            str(BIN / "gunicorn"),
            "-c",
            "gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "run:app",
        ],
        logs / "gunicorn.log",
        cwd=ROOT,
        env={**os.environ, **env},
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
            return response.status == 200

    wait_until(healthy, 60, "gunicorn", interval=0.1)
    yield MeteredStack(url, folder, gunicorn.pid)
    stop_process_group(gunicorn.pid, timeout=30)
    stop_process_group(worker_pid, timeout=30)
