"""Import jobs: an NDJSON file (or a gzip of one) of events, validated and stored like live ones.

Each line is one event, native (`eventName`) or in the Segment format (`type`, or `event` for a
track), judged by the code that judges live events (ingestion/verdicts.py) against the
plan that was published when the file was uploaded, deduplicated by the same claims (messageId,
else payload hash, for the dedup window: a live copy and an imported copy are one event), and
stored by store_events, a chunk of lines per statement. A bad line is listed with its number
and error in the result and skipped; it does not stop the job.

An imported event's task id is not random but derived from (app id, dedup key)
(`import_task_id`). Claims expire with the dedup window, but events.task_id is unique for as
long as the event is kept, so importing the same file again next month, or resuming an import
whose worker died after storing a chunk, adds no row: a line whose task id is already stored
is counted `duplicate`. (The id is not keyed by the instance secret, so a rotated secret does
not change it; it needs no secret: only a read-key holder can import.)

Two imports of one file at once derive the same task ids, so each reads the other's claims as
its own, and rows are unique by (task_id, received_at) with a received_at per chunk: what keeps
them from storing an event twice is that one chunk of an app at a time checks what is stored
and stores (`_one_chunk_at_a_time`, PostgreSQL; SQLite's writes are one at a time already).
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

from sqlalchemy import String, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError

from app.errors import ServiceError
from app.extensions import db
from app.models import Event, Job, JobFile, TrackedApp
from app.models.dialect import is_postgresql
from app.models.types import utcnow
from app.services.ingestion.app_directory import AppEntry
from app.services.ingestion.gzip_data import GZIP_MAGIC, PIECE, OverLimit, inflate
from app.services.ingestion.json_text import parse_strict_json
from app.services.ingestion.run_counts import runs_of
from app.services.ingestion.stored_event import StoredEvent
from app.services.ingestion.verdicts import EventError, Prepared, RequestInfo, judge_parsed
from app.services.jobs.runner import JobError, JobFailed, JobSettings, Lost, Run, create_job
from app.services.plans import versions as plans
from app.services.storage.events import store_events
from app.validation import compile_plan

# The largest upload. A setting of its own belongs in app/config.py (owned elsewhere); until
# then a constant. The uploaded bytes are kept in the database (job_files) for any worker.
# A gzip may unpack to this much; more is refused (413) so a gzip bomb costs nothing.
MAX_UNPACKED_BYTES = 512 * 1024 * 1024
# Lines per chunk: one claim round trip, one lookup of stored task ids, one INSERT and one
# progress commit. Measured on the test PostgreSQL and Redis (2 cores, 100,000 lines of native
# events, a fifth invalid): 500 → ~3,750 lines/s, 2,000 → ~3,760-4,000/s, 5,000 → ~3,790/s.
# Judging the lines (~130 µs each, the ingestion code) and the INSERT (~95 µs a row) are nearly
# all of it, so the size hardly matters beyond 500; 2,000 keeps a chunk near half a second,
# so progress and cancel stay prompt, and its memory small.
CHUNK_LINES = 2000
# Per-line errors listed in a result (all are counted).
MAX_LISTED_ERRORS = 1000
BOM = b"\xef\xbb\xbf"
COUNTED = ("valid", "invalid", "unplanned", "duplicate", "blocked", "rejected", "blank")


def import_task_id(app_id: int, dedup_key: str) -> str:
    """The task id of an imported event: the same for the same app and dedup key, always."""
    digest = hashlib.blake2b(
        f"{app_id}\n{dedup_key}".encode(), digest_size=16, person=b"lvd-import"
    ).digest()
    return str(uuid.UUID(bytes=digest))


def _pieces(data: bytes) -> Iterator[bytes]:
    """The file's NDJSON bytes, a piece at a time (gzip, also of several members, unpacked)."""
    if not data.startswith(GZIP_MAGIC):
        for start in range(0, len(data), PIECE):
            yield data[start : start + PIECE]
        return
    try:
        yield from inflate(data, MAX_UNPACKED_BYTES, "file", members=True)
    except OverLimit:
        raise JobError(
            "too_large",
            "file_too_large",
            f"The file unpacks to more than {MAX_UNPACKED_BYTES} bytes.",
        )


def _lines(data: bytes, limit: int) -> Iterator[bytes]:
    """The file's lines, without their line ends. A line longer than `limit` bytes comes cut
    to limit + 1 (enough to be refused as too large): a file that is one 500 MB line is read
    without ever holding, or copying again and again, all of it."""
    parts: list[bytes] = []  # the line being read, across pieces
    size = 0
    for piece in _pieces(data):
        lines = piece.split(b"\n")
        head = lines[0]
        if size <= limit:
            parts.append(head[: limit + 1 - size])
        size += len(head)
        if len(lines) == 1:
            continue
        yield b"".join(parts)
        yield from lines[1:-1]  # whole lines inside one piece: at most PIECE long
        parts, size = [lines[-1][: limit + 1]], len(lines[-1])
    if size:
        yield b"".join(parts)


def check_upload(data: bytes, limit: int) -> tuple[str, int]:
    """The format ("gzip" or "ndjson") and line count of an upload of at most `limit` bytes;
    JobError (400, 413) when it cannot be imported."""
    if len(data) > limit:
        raise JobError("too_large", "file_too_large", f"A file may be at most {limit} bytes.")
    lines, last, first = 0, b"", b""
    for piece in _pieces(data):
        if not piece:
            continue
        lines += piece.count(b"\n")
        last = piece[-1:]
        if not first:
            first = piece.lstrip(b" \t\r\n" + BOM)[:1]
    if not first:
        raise JobError("invalid", "empty_file", "The file holds no events.")
    if first != b"{":
        raise JobError(
            "invalid", "not_ndjson", "The file is not NDJSON: one JSON object per line is expected."
        )
    if last != b"\n":
        lines += 1
    return ("gzip" if data.startswith(GZIP_MAGIC) else "ndjson"), lines


def create(app: TrackedApp, filename: str, data: bytes, max_bytes: int) -> Job:
    """A queued import of `data` (at most `max_bytes`) into `app`, judged by the plan published
    now."""
    file_format, lines = check_upload(data, max_bytes)
    # A name the client chose: printable characters only (the database refuses NUL).
    filename = "".join(ch for ch in filename if ch.isprintable())[:255] or "upload.ndjson"
    params = {
        "filename": filename,
        "format": file_format,
        "bytes": len(data),
        "plan_version": app.plan_version,
    }
    return create_job(app.id, "import", params, total=lines, file=(filename, data))


def _judge(line: bytes, info: RequestInfo) -> Prepared:
    """One line judged as the ingestion endpoints judge an event; EventError when malformed."""
    if len(line) > info.max_event_bytes:
        raise EventError(
            "too_large", "event_too_large", f"An event may be at most {info.max_event_bytes} bytes."
        )
    try:
        raw = parse_strict_json(line, subject="line")
    except ServiceError as exc:
        raise EventError(exc.kind, exc.code, exc.message)
    return judge_parsed(raw, info)


def empty_result(plan_version: int | None) -> dict[str, Any]:
    """The result of an import before its first chunk."""
    return {
        "plan_version": plan_version,
        "counts": dict.fromkeys(COUNTED, 0),
        "stored": 0,
        "error_count": 0,
        "errors": [],
    }


class Import:
    """One claimed import job at work, reading its file from where the job got to."""

    def __init__(self, run: Run, settings: JobSettings) -> None:
        self.run = run
        data = db.session.scalar(select(JobFile.data).where(JobFile.job_id == run.id))
        if data is None:
            raise JobFailed("The job's file is gone.")
        self.lines = _lines(data, settings.max_event_bytes)
        # Lines finished before (by an earlier slice, or a worker that died) are not read again.
        next(itertools.islice(self.lines, run.position, run.position), None)
        version = run.params.get("plan_version")
        plan = compile_plan(plans.published_body(run.app_id, version), version=version or 0)
        policy = db.session.scalar(select(TrackedApp.pii_policy).where(TrackedApp.id == run.app_id))
        self.entry = AppEntry(app_id=run.app_id, plan=plan, pii_policy=policy)
        self.secret = settings.secret
        self.max_event_bytes = settings.max_event_bytes
        self.max_upload_bytes = settings.max_upload_bytes
        self.claims = settings.claims
        self.run_counts = settings.run_counts
        if not run.result:
            run.result = empty_result(version)

    def begin(self) -> None:
        """Count the lines (an upload counts them; this is for a job made without a total)."""
        data = db.session.scalar(select(JobFile.data).where(JobFile.job_id == self.run.id))
        _, lines = check_upload(data, self.max_upload_bytes)
        self.run.save(0, 0, self.run.result, total=lines)

    def step(self) -> bool:
        """Judge, deduplicate and store the next chunk of lines, with the job's progress."""
        run = self.run
        chunk = list(itertools.islice(self.lines, CHUNK_LINES))
        if not chunk:
            return False
        info = RequestInfo(
            entry=self.entry,
            write_key="",
            received_at=utcnow(),
            test_run=None,
            secret=self.secret,
            max_event_bytes=self.max_event_bytes,
        )
        counts = dict.fromkeys(COUNTED, 0)
        errors: list[dict[str, Any]] = []
        judged: list[tuple[int, Prepared]] = []  # (line number, judged event)
        blocked: list[str | None] = []  # the test runs of blocked lines
        for number, line in enumerate(chunk, start=run.position + 1):
            if number == 1:
                line = line.removeprefix(BOM)
            if not line.strip():
                counts["blank"] += 1
                continue
            try:
                prepared = _judge(line, info)
            except EventError as exc:
                errors.append({"line": number, "code": exc.code, "message": exc.message})
                continue
            if prepared.blocked:
                counts["blocked"] += 1
                blocked.append(prepared.message.test_run)
                continue
            prepared.message = prepared.message.with_task_id(
                import_task_id(run.app_id, prepared.dedup_key)
            )
            judged.append((number, prepared))
        counts["rejected"] = len(errors)
        lines = self._fresh(judged)
        fresh = [message for _, message in lines]
        counts["duplicate"] = len(judged) - len(fresh)
        for message in fresh:
            counts[message.status] += 1
        result = _merged(run.result, counts, len(fresh), errors)
        position, done = run.position + len(chunk), run.done + len(chunk)
        inserted: list[int] = []
        try:
            run.save(position, done, result, store=lambda: inserted.append(store_events(fresh)))
        except (OperationalError, Lost):
            raise
        except Exception:
            # Some event's data was refused by the database: store what can be stored one by
            # one and list the rest (rare; these rows and the progress commit separately).
            db.session.rollback()
            stored: list[StoredEvent] = []
            result = self._store_one_by_one(run.app_id, lines, run.result, counts, errors, stored)
            run.save(position, done, result)
            self._count_runs(stored, blocked)
            return True
        if inserted and inserted[0] < len(fresh):
            # Another import of the same events stored some of them meanwhile.
            result = {**result, "stored": result["stored"] - (len(fresh) - inserted[0])}
            result["counts"] = {**result["counts"]}
            result["counts"]["duplicate"] += len(fresh) - inserted[0]
            run.save(position, done, result)
            # Which of them this import stored is unknown; the other import counts its own.
            runs = {message.test_run for message in fresh}
            fresh = fresh[: inserted[0]] if len(runs) == 1 else []
        self._count_runs(fresh, blocked)
        return True

    def _count_runs(self, stored: list[StoredEvent], blocked: list[str | None]) -> None:
        """Count the chunk's stored and blocked events for their test runs, as live admission
        does, so a run's wait sees imported events as accepted (and settled: they are stored).
        After the chunk's commit: a worker dying in between leaves them uncounted, never
        counted twice."""
        accepted = runs_of([message.test_run for message in stored])
        self.run_counts.add(self.run.app_id, accepted, runs_of(blocked))
        db.session.commit()  # micro counts in its database

    def _fresh(self, judged: list[tuple[int, Prepared]]) -> list[tuple[int, StoredEvent]]:
        """The (line number, message) of the chunk's events to store: not claimed by another
        event in the dedup window, not stored already, not repeated earlier in the chunk."""
        if not judged:
            return []
        items = [(p.dedup_key, p.message.task_id) for _, p in judged]
        _one_chunk_at_a_time(self.run.app_id)
        # The claims live admission makes (claims.py); rows (micro) are in this chunk's
        # transaction, committed with its events.
        owners = self.claims.claim(self.run.app_id, items)
        stored = _stored_task_ids([task_id for _, task_id in items])
        fresh: list[tuple[int, StoredEvent]] = []
        for (number, prepared), owner in zip(judged, owners, strict=True):
            task_id = prepared.message.task_id
            if owner is not None or task_id in stored:
                continue
            stored.add(task_id)
            fresh.append((number, prepared.message))
        return fresh

    @staticmethod
    def _store_one_by_one(
        app_id: int,
        lines: list[tuple[int, StoredEvent]],
        result: dict[str, Any],
        counts: dict[str, int],
        errors: list[dict[str, Any]],
        new: list[StoredEvent],
    ) -> dict[str, Any]:
        """Store the chunk's events one by one, listing those refused; `new` gets the
        events stored."""
        stored = 0
        for number, message in lines:
            # Each event commits alone, so the chunk's lock is gone: take it again, and look
            # again whether another import stored the event meanwhile.
            _one_chunk_at_a_time(app_id)
            if _stored_task_ids([message.task_id]):
                counts[message.status] -= 1
                counts["duplicate"] += 1
                continue
            try:
                if store_events([message]):
                    stored += 1
                    new.append(message)
            except OperationalError:
                raise
            except Exception as exc:
                db.session.rollback()
                counts[message.status] -= 1
                counts["rejected"] += 1
                errors.append({"line": number, "code": "not_stored", "message": str(exc)[:500]})
        return _merged(result, counts, stored, errors)


# The class of PostgreSQL advisory locks of imports (the second key is the app id).
IMPORT_LOCKS = 18_001


def _one_chunk_at_a_time(app_id: int) -> None:
    """Until this transaction ends, no other import of this app checks or stores events."""
    if is_postgresql():
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(:locks, :app_id)"),
            {"locks": IMPORT_LOCKS, "app_id": app_id},
        )


def _stored_task_ids(task_ids: list[str]) -> set[str]:
    """Which of these task ids are stored already."""
    if is_postgresql():
        # One array parameter: a list of 2,000 IN parameters took ~4x as long to plan.
        wanted = bindparam("task_ids", task_ids, type_=postgresql.ARRAY(String))
        condition = Event.task_id == any_(wanted)
    else:
        condition = Event.task_id.in_(task_ids)
    return set(db.session.scalars(select(Event.task_id).where(condition)))


def _merged(
    result: dict[str, Any], counts: dict[str, int], stored: int, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """`result` plus one chunk's counts and errors (a new dict: the saved one stays)."""
    listed = result["errors"]
    room = MAX_LISTED_ERRORS - len(listed)
    return {
        **result,
        "counts": {key: result["counts"].get(key, 0) + counts[key] for key in COUNTED},
        "stored": result["stored"] + stored,
        "error_count": result["error_count"] + len(errors),
        "errors": listed + errors[: max(0, room)],
    }
