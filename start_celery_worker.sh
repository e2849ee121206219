#!/usr/bin/env bash
# Start a Celery worker for one queue profile: default | emails | batch_processing | all.
# Extra arguments go to `celery worker` (e.g. --concurrency 4).
set -euo pipefail
cd "$(dirname "$0")"
profile="${1:-all}"
shift || true
case "$profile" in
  # Storing events: short database writes, the bulk of the work.
  default) args=(-Q default --concurrency 2) ;;
  # Mail waits on SMTP servers; one process keeps a slow server from holding more.
  emails) args=(-Q emails --concurrency 1) ;;
  # Aggregation scans the database; one at a time keeps it off the storage path's back.
  batch_processing) args=(-Q batch_processing --concurrency 1) ;;
  all) args=(-Q default,emails,batch_processing --concurrency 2) ;;
  *) echo "usage: $0 default|emails|batch_processing|all [celery worker options]" >&2; exit 2 ;;
esac
exec "${CELERY:-.venv/bin/celery}" -A run:celery_app worker -n "$profile@%h" "${args[@]}" \
  --loglevel "${LOGLEVEL:-INFO}" "$@"
