"""gunicorn settings of the full profile (`make up`); the bind address is on its command line.

Chosen by measurement (2-core machine, wrk with 16 connections against gunicorn directly, our
single-event endpoint; 2026-11-23): gthread 2x4 ~890 req/s at 1.7 ms of gunicorn CPU per request,
gthread 3x4 ~920, gthread 2x2 ~890, sync 2 ~780, sync 3 ~750 (runs vary by about 10%). The
request path is CPU-bound, so more processes than cores buy nothing; threads cost nothing
measurable, so long-polls get threads of their own (below).
"""

import os

# One process per core: the request path is CPU-bound (parsing, validation, hashing).
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let a worker overlap its one blocking I/O (the Redis round trip).
worker_class = "gthread"
# Long-polls (`GET /api/tasks/<id>?wait=`) sleep in a thread for up to 30 s. The app admits at
# most TASK_WAITS_PER_PROCESS of them at once per process (429 beyond; app/api/wait_slots.py)
# and each worker gets that many threads on top of GUNICORN_THREADS, so however many clients
# wait, GUNICORN_THREADS threads stay free for ingestion. The same number reaches the app through
# raw_env, so both always agree (app/config.py has the same default for the micro profile).
wait_slots = int(os.environ.get("TASK_WAITS_PER_PROCESS", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "4")) + wait_slots
raw_env = [f"TASK_WAITS_PER_PROCESS={wait_slots}"]
# nginx keeps upstream connections alive; keep ours open a little longer than its idle timeout.
keepalive = 75
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 100_000
max_requests_jitter = 10_000
timeout = 60
accesslog = None


def child_exit(server, worker):
    """A worker is gone: drop its live gauges from the metrics folder (app/metrics.py). Its
    counters stay there: what a recycled worker counted still counts."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
