"""Dead letters: messages a task could not process, kept with their error until replayed or
discarded.

Recording one cannot fail for the data's sake: when the message itself is what the database
refused (a NUL, a lone surrogate, a value no column holds), an escaped copy of it is kept
instead (`_escaped`), and bytes that are not even text are kept in base64 (`quarantine_raw`).
Only the database being down (OperationalError) goes up, for the caller to retry.

A discarded dead letter is kept with `discarded_at`, so its task reads `discarded`, not `queued`.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import DeadLetter
from app.models.dialect import insert
from app.models.types import utcnow
from app.services.ingestion.stored_event import TEST_RUN_MAX, text_problem
from app.validation import pii

# A dead letter waits for a replay or a discard.
PENDING = (DeadLetter.replayed_at.is_(None), DeadLetter.discarded_at.is_(None))
_MAX_ERROR = 10_000


def _plain(text: str) -> str:
    """Text every database stores: NUL and lone surrogates written as escapes."""
    if text_problem(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _escaped(message: Any) -> dict[str, Any]:
    """An escaped copy of a message: its JSON text in ASCII (`escaped`), beside the fields the
    console shows, made plain. Any database stores it."""
    copy: dict[str, Any] = {"unstorable": True}
    if isinstance(message, dict):
        for key in ("task_id", "app_id", "event_name", "received_at"):
            value = message.get(key)
            if isinstance(value, str):
                copy[key] = _plain(value)[:255]
            elif type(value) is int and 0 < value < 2**63:
                copy[key] = value
    try:
        copy["escaped"] = json.dumps(message, ensure_ascii=True, default=repr)
    except (ValueError, RecursionError) as exc:  # nothing left to keep but the error
        copy["escaped"] = None
        copy["unreadable"] = _plain(repr(exc))[:1000]
    return copy


def _task_id(message: Any, fallback: str) -> str:
    task_id = message.get("task_id") if isinstance(message, dict) else None
    if isinstance(task_id, str) and 0 < len(task_id) <= 64 and text_problem(task_id) is None:
        return task_id
    return fallback


def _app_id(message: Any) -> int | None:
    app_id = message.get("app_id") if isinstance(message, dict) else None
    return app_id if type(app_id) is int and 0 < app_id < 2**63 else None


def _test_run(message: Any) -> str | None:
    """The test run a message's event belongs to, when it names one that can be stored."""
    run = message.get("test_run") if isinstance(message, dict) else None
    if isinstance(run, str) and 0 < len(run) <= TEST_RUN_MAX and text_problem(run) is None:
        return run
    return None


def record_dead_letter(task_id: str, task_name: str, message: Any, error: str) -> None:
    """Keep a message that cannot be processed, with its error (one row per task id; failing
    again adds an attempt). Never fails for the message's content (see the module docstring)."""
    task_id = _task_id({"task_id": task_id}, "")
    if not task_id:  # no usable task id: one named after the content, so a retry is the same row
        digest = hashlib.blake2b(repr(message).encode("utf-8", "backslashreplace"), digest_size=16)
        task_id = f"dead:{digest.hexdigest()}"
    error = _plain(error[:_MAX_ERROR])
    run = _test_run(message)  # of the message as it came, so an escaped copy keeps its run
    try:
        _insert(task_id, task_name, message, error, run)
    except OperationalError:
        raise
    except Exception:
        db.session.rollback()
        # The copy itself was refused: keep the escaped copy, which any database stores.
        _insert(task_id, task_name, _escaped(message), error, run)


def _insert(task_id: str, task_name: str, message: Any, error: str, run: str | None) -> None:
    values = {
        "error": error,
        "created_at": utcnow(),
        "replayed_at": None,
        "discarded_at": None,
        "test_run": run,
    }
    db.session.execute(
        insert(DeadLetter)
        .values(
            task_id=task_id,
            app_id=_app_id(message),
            task_name=task_name,
            message=message,
            attempts=1,
            **values,
        )
        # Failing again after a replay: the same row, with the new error, pending again.
        .on_conflict_do_update(
            index_elements=["task_id"], set_={**values, "attempts": DeadLetter.attempts + 1}
        )
    )
    db.session.commit()


def quarantine_raw(entry_id: str, raw: bytes | str, task_name: str, error: str) -> None:
    """Keep a queued entry that is not even a list of event messages (not UTF-8, not JSON), as
    base64 of its bytes, under a task id named after the entry."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    task_id = f"entry:{entry_id}"[:64]
    message = {"unstorable": True, "task_id": task_id, "base64": base64.b64encode(data).decode()}
    record_dead_letter(task_id, task_name, message, error)


def list_dead_letters(
    app_id: int | None = None, pending_only: bool = True, limit: int = 100
) -> list[DeadLetter]:
    """Dead letters, newest first: of one app, or all; pending (not replayed) ones by default.
    Discarded ones are not listed (they are kept so that their task reads `discarded`)."""
    query = select(DeadLetter).where(DeadLetter.discarded_at.is_(None))
    if app_id is not None:
        query = query.where(DeadLetter.app_id == app_id)
    if pending_only:
        query = query.where(*PENDING)
    return list(db.session.scalars(query.order_by(DeadLetter.id.desc()).limit(limit)))


def mark_replayed(ids: list[int]) -> None:
    """Note that these dead letters were queued again."""
    if ids:
        db.session.execute(
            update(DeadLetter).where(DeadLetter.id.in_(ids)).values(replayed_at=utcnow())
        )
        db.session.commit()


def unmark_replayed(ids: list[int]) -> None:
    """Undo mark_replayed for dead letters whose replay could not be queued."""
    if ids:
        db.session.rollback()
        db.session.execute(
            update(DeadLetter).where(DeadLetter.id.in_(ids)).values(replayed_at=None)
        )
        db.session.commit()


def replay(dead_letters: list[DeadLetter], send: Callable[[list[Any]], object]) -> int:
    """Queue dead letters' messages again through `send` (one call with all of them), under
    their own task ids (so stored at most once); how many were replayed.

    The marks are committed before the send: a replay that fails again at once dead-letters the
    same row as pending, and a mark committed after it would hide that (seen in a test run).
    When the send fails nothing was queued, so the marks are taken back and the error raised."""
    ids = [dead.id for dead in dead_letters]
    mark_replayed(ids)
    if dead_letters:
        try:
            send([dead.message for dead in dead_letters])
        except Exception:
            unmark_replayed(ids)  # not queued: still pending
            raise
    return len(dead_letters)


def dead_letter_to_dict(dead: DeadLetter) -> dict[str, Any]:
    """A dead letter as the API and the command line show it."""
    return {
        "id": dead.id,
        "task_id": dead.task_id,
        "task_name": dead.task_name,
        "app_id": dead.app_id,
        # A database's error may quote the row it refused.
        "error": pii.mask_text(dead.error) if dead.error else dead.error,
        "message": pii.masked_message(dead.message),
        "created_at": dead.created_at.isoformat(),
        "replayed_at": dead.replayed_at.isoformat() if dead.replayed_at else None,
        "discarded_at": dead.discarded_at.isoformat() if dead.discarded_at else None,
        "attempts": dead.attempts,
    }


def get_dead_letter(app_id: int, dead_letter_id: int) -> DeadLetter | None:
    """One dead letter of an app, pending or replayed (None for another app's, or discarded)."""
    return db.session.scalar(
        select(DeadLetter).where(
            DeadLetter.id == dead_letter_id,
            DeadLetter.app_id == app_id,
            DeadLetter.discarded_at.is_(None),  # given up on: kept for its task's state only
        )
    )


def discard_dead_letter(dead: DeadLetter) -> None:
    """Give up on a dead letter for good: kept, marked discarded (no longer pending)."""
    db.session.execute(
        update(DeadLetter)
        .where(DeadLetter.id == dead.id, DeadLetter.discarded_at.is_(None))
        .values(discarded_at=utcnow())
    )
    db.session.commit()


def pending_of_apps(app_ids: list[int], limit: int = 20) -> list[DeadLetter]:
    """The newest pending dead letters of these apps."""
    if not app_ids:
        return []
    query = (
        select(DeadLetter)
        .where(DeadLetter.app_id.in_(app_ids), *PENDING)
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def pending_counts(app_ids: list[int]) -> dict[int, int]:
    """How many dead letters of each of these apps wait for a replay or a discard."""
    if not app_ids:
        return {}
    query = (
        select(DeadLetter.app_id, func.count())
        .where(DeadLetter.app_id.in_(app_ids), *PENDING)
        .group_by(DeadLetter.app_id)
    )
    counts = dict.fromkeys(app_ids, 0)
    counts.update({app_id: count for app_id, count in db.session.execute(query)})
    return counts


def dead_letter_detail(dead: DeadLetter) -> dict[str, Any]:
    """Everything kept of a dead letter: the list's fields, what the message says of its event
    (name, when it was accepted), and whether it waits (`pending`) or was queued again."""
    message = dead.message if isinstance(dead.message, dict) else {}
    return {
        **dead_letter_to_dict(dead),
        "state": dead_letter_state(dead),
        "event_name": message.get("event_name"),
        "received_at": message.get("received_at"),
    }


def dead_letter_state(dead: DeadLetter) -> str:
    """pending, replayed or discarded."""
    if dead.discarded_at is not None:
        return "discarded"
    return "pending" if dead.replayed_at is None else "replayed"
