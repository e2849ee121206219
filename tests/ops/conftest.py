"""A metered full stack: a real gunicorn (2 workers) and a real Celery worker (prefork) writing
their metrics to one multiprocess folder, as `make up` runs them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from stack.servers import free_port, start_gunicorn, start_worker, stop_process_group
from tests.support.profiles import flush_redis, full_env


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
    worker_pid = start_worker(env, logs / "worker.log", concurrency=1).pid
    gunicorn = start_gunicorn(env, logs / "gunicorn.log", free_port(), workers=2)
    yield MeteredStack(gunicorn.url, folder, gunicorn.pid)
    gunicorn.stop()
    stop_process_group(worker_pid, timeout=30)
