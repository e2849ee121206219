#!/usr/bin/env bash
# Start a Celery worker for one queue profile: default | emails | batch_processing | all.
# Extra arguments go to `celery worker` (e.g. --concurrency 4).
set -euo pipefail
cd "$(dirname "$0")"
profile="${1:-all}"
shift || true
# Limits per queue (seconds, tasks, KiB of resident memory per worker process):
# --soft-time-limit raises inside the task (it can clean up), --time-limit kills the process;
# --max-tasks-per-child and --max-memory-per-child replace a process that grew, between tasks.
case "$profile" in
  # Storing events: one drain at a time empties the stream (a flag in Redis sees to that), and
  # a second process would only add ~50 MB; retries and replays wait at most one drain (20 s).
  # A drain hands over to a fresh task after 20 s, so 120 s means a stuck database call; the
  # entries stay pending and the next drain takes them over. Batches of 2 MB of JSON peak near
  # 200 MB: a process past 400 MB is replaced.
  default) args=(-Q default --concurrency 1 --soft-time-limit 120 --time-limit 150
                 --max-tasks-per-child 1000 --max-memory-per-child 400000) ;;
  # Mail waits on SMTP servers; one process keeps a slow server from holding more. A send
  # takes seconds; one over 60 s is a hung server (the task retries with backoff).
  emails) args=(-Q emails --concurrency 1 --soft-time-limit 60 --time-limit 90
                --max-tasks-per-child 10000 --max-memory-per-child 200000) ;;
  # Statistics, alerts, retention and jobs scan the database; one at a time keeps them off the
  # storage path's back. A job saves its position after every batch (seconds), so the 1 h limit
  # only ends a runaway; a killed job is resumed from its position (app/tasks/jobs.py). Imports
  # hold a file of up to 50 MB: a process past 600 MB is replaced after its task.
  batch_processing) args=(-Q batch_processing --concurrency 1 --soft-time-limit 3600
                          --time-limit 3700 --max-tasks-per-child 100
                          --max-memory-per-child 600000) ;;
  # Tests and small setups: everything in one worker, with the storage limits.
  all) args=(-Q default,emails,batch_processing --concurrency 2 --soft-time-limit 3600
             --time-limit 3700 --max-memory-per-child 600000) ;;
  *) echo "usage: $0 default|emails|batch_processing|all [celery worker options]" >&2; exit 2 ;;
esac
exec "${CELERY:-.venv/bin/celery}" -A run:celery_app worker -n "$profile@%h" "${args[@]}" \
  --loglevel "${LOGLEVEL:-INFO}" "$@"
