"""The states a task, a dead letter and a job can be in: stored by the services, documented by the
API's schemas. Plain values, so app/schemas imports them without importing any service."""

QUEUED = "queued"
STORED = "stored"
FAILED = "failed"
DISCARDED = "discarded"
# Where an accepted event (a task) is: waiting, stored, in the dead letters, or given up.
TASK_STATES = (QUEUED, STORED, FAILED, DISCARDED)
# The states the task history lists (queued tasks have no row yet; app/services/storage).
LISTED_TASK_STATES = (STORED, FAILED)
# A dead letter waits for a replay (pending), was queued again, or was given up.
DEAD_LETTER_STATES = ("pending", "replayed", DISCARDED)

RUNNING = "running"
JOB_STATES = (QUEUED, RUNNING, "done", FAILED, "cancelled")
JOB_ACTIVE = (QUEUED, RUNNING)
JOB_FINISHED = ("done", FAILED, "cancelled")
