"""gunicorn settings of the full profile (`make up`); the bind address is on its command line."""

import os

# One process per core: the request path is CPU-bound (parsing, validation, hashing).
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads let a worker overlap its one blocking I/O (the enqueue) and serve task long-polls.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# nginx keeps upstream connections alive; keep ours open a little longer than its idle timeout.
keepalive = 75
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 100_000
max_requests_jitter = 10_000
timeout = 60
accesslog = None
