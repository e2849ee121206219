#!/usr/bin/env bash
# Start a Celery worker for one queue profile: default | emails | batch_processing | all.
# Extra arguments go to `celery worker` (e.g. --concurrency 4).
set -euo pipefail
cd "$(dirname "$0")"
profile="${1:-all}"
shift || true
case "$profile" in
  # Storing events: one drain at a time empties the stream (a flag in Redis sees to that), and
  # a second process would only add ~50 MB; retries and replays wait at most one drain (20 s).
  default) args=(-Q default --concurrency 1) ;;
  # Mail waits on SMTP servers; one process keeps a slow server from holding more.
  emails) args=(-Q emails --concurrency 1) ;;
  # Aggregation scans the database; one at a time keeps it off the storage path's back.
  batch_processing) args=(-Q batch_processing --concurrency 1) ;;
  all) args=(-Q default,emails,batch_processing --concurrency 2) ;;
  *) echo "usage: $0 default|emails|batch_processing|all [celery worker options]" >&2; exit 2 ;;
esac
exec "${CELERY:-.venv/bin/celery}" -A run:celery_app worker -n "$profile@%h" "${args[@]}" \
  --loglevel "${LOGLEVEL:-INFO}" "$@"
