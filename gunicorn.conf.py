"""gunicorn settings of the full profile (`make up`); the bind address is on its command line.

Chosen by measurement (2-core machine, wrk with 16 connections against gunicorn directly, our
single-event endpoint; 2026-11-23): gthread 2x4 ~890 req/s at 1.7 ms of gunicorn CPU per request,
gthread 3x4 ~920, gthread 2x2 ~890, sync 2 ~780, sync 3 ~750 (runs vary by about 10%). The
request path is CPU-bound, so more processes than cores buy nothing; threads cost nothing
measurable and are needed for `GET /api/tasks/<id>?wait=` long-polls.
"""

import os

# One process per core: the request path is CPU-bound (parsing, validation, hashing).
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let a worker overlap its one blocking I/O (the Redis round trip) and serve long-polls.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
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
