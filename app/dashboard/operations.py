"""Operations pages: the instance's queues and workers with the signed-in user's failures, and
each app's dead letters (list, open one, replay one or all, discard).

Queues and workers are the whole instance's machinery and every signed-in user sees them;
anything that carries event data (dead letters, failed jobs) is shown only for the user's own
apps, and another user's app is a 404, like one that does not exist.
"""

from __future__ import annotations

import json

import redis
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from kombu.exceptions import KombuError

from app.dashboard.apps import owned_or_404
from app.dashboard.forms import EmptyForm
from app.services import apps as app_service
from app.services.ingestion.event_stream import STREAM
from app.services.probes import celery_workers, prober, queue_depth_look
from app.services.storage import dead_letters
from app.services.storage.task_history import failed_jobs
from app.tasks.events import queue_events
from app.validation import pii
from celery_config import BATCH_QUEUE, EMAIL_QUEUE, STORAGE_QUEUE

web_operations = Blueprint("operations", __name__)


@web_operations.app_template_filter("pii_masked")
def pii_masked(text: str | None) -> str | None:
    """Text with any personal data in it masked (a dead letter's error may quote its row)."""
    return pii.mask_text(text) if text else text


# Celery waits this long for workers to answer (the whole time: it cannot know how many exist).
WORKER_PING_SECONDS = 1.0
# The machinery's looks together, at most (a hung Redis costs the page this, no more).
LOOK_SECONDS = 2.0
RECENT = 20
PAGE_SIZE = 100
QUEUE_NOTES = {
    STORAGE_QUEUE: "storing events (micro, replays, retries) and the drains of the event stream",
    EMAIL_QUEUE: "account mail, alerts, digests",
    BATCH_QUEUE: "statistics, alerts, retention, re-validation and import jobs",
    STREAM: "accepted requests whose events wait to be stored (one entry per request)",
}


@web_operations.get("/operations")
@login_required
def index():
    """Queue depths, workers, the user's recent failures and dead letters per app."""
    app = current_app._get_current_object()
    micro = app.config["PROFILE"] == "micro"
    looks = {"operations:queues": queue_depth_look(app)}
    if not micro:  # micro's worker is a thread of this process; its broker has no broadcasts
        celery = app.extensions["celery"]
        looks["operations:workers"] = lambda: celery_workers(celery, WORKER_PING_SECONDS)
    outcomes = prober(app).run(looks, timeout=LOOK_SECONDS)
    own = app_service.apps_of(current_user.id)
    ids = [owned.id for owned in own]
    return render_template(
        "ops/index.html",
        micro=micro,
        queues=outcomes["operations:queues"],
        workers=outcomes.get("operations:workers"),
        ping_seconds=WORKER_PING_SECONDS,
        notes=QUEUE_NOTES,
        apps=own,
        names={owned.id: owned.name for owned in own},
        pending=dead_letters.pending_counts(ids),
        recent=dead_letters.pending_of_apps(ids, RECENT),
        jobs=failed_jobs(ids, RECENT),
        recent_size=RECENT,
    )


@web_operations.get("/apps/<int:app_id>/dead-letters")
@login_required
def dead_letter_list(app_id: int):
    """The app's pending dead letters, newest first (`?all=1`: replayed ones too)."""
    app = owned_or_404(app_id)
    show_all = request.args.get("all") == "1"
    rows = dead_letters.list_dead_letters(app.id, pending_only=not show_all, limit=PAGE_SIZE)
    pending = dead_letters.pending_counts([app.id])[app.id]
    return render_template(
        "ops/dead_letters.html",
        app=app,
        rows=rows,
        pending=pending,
        show_all=show_all,
        page_size=PAGE_SIZE,
        form=EmptyForm(),
    )


def _dead_or_404(app_id: int, dead_letter_id: int):
    app = owned_or_404(app_id)
    dead = dead_letters.get_dead_letter(app.id, dead_letter_id) if dead_letter_id < 2**63 else None
    if dead is None:
        abort(404, description=f"This app has no dead letter {dead_letter_id}.")
    return app, dead


@web_operations.get("/apps/<int:app_id>/dead-letters/<int:dead_letter_id>")
@login_required
def dead_letter(app_id: int, dead_letter_id: int):
    """One dead letter: its error and its whole message, as text."""
    app, dead = _dead_or_404(app_id, dead_letter_id)
    detail = dead_letters.dead_letter_detail(dead)  # personal data in it masked
    message = json.dumps(detail["message"], indent=2, sort_keys=True, ensure_ascii=False)
    return render_template(
        "ops/dead_letter.html",
        app=app,
        dead=dead,
        detail=detail,
        message=message,
        form=EmptyForm(),
    )


def _replay(chosen: list) -> bool:
    """Queue dead letters again; False (with a message) when the queue is unreachable."""
    try:
        dead_letters.replay(chosen, queue_events)
    except (KombuError, redis.RedisError, OSError):
        flash("The queue is unreachable: nothing was replayed. Try again shortly.", "error")
        return False
    return True


@web_operations.post("/apps/<int:app_id>/dead-letters/replay")
@login_required
def replay_all(app_id: int):
    """Queue every pending dead letter of the app again."""
    app = owned_or_404(app_id)
    if EmptyForm().validate_on_submit():
        chosen = dead_letters.list_dead_letters(app.id, pending_only=True, limit=10_000)
        if not chosen:
            flash("No dead letter is waiting.", "info")
        elif _replay(chosen):
            flash(f"Queued again: {len(chosen)} dead letter(s).", "info")
    return redirect(url_for("operations.dead_letter_list", app_id=app.id))


@web_operations.post("/apps/<int:app_id>/dead-letters/<int:dead_letter_id>/replay")
@login_required
def replay_one(app_id: int, dead_letter_id: int):
    """Queue one dead letter again (stored at most once, however often it is replayed)."""
    app, dead = _dead_or_404(app_id, dead_letter_id)
    if EmptyForm().validate_on_submit():
        if dead.replayed_at is not None:
            flash(f"Dead letter {dead.id} was already queued again.", "info")
        elif _replay([dead]):
            flash(f"Dead letter {dead.id} queued again.", "info")
    return redirect(url_for("operations.dead_letter_list", app_id=app.id))


@web_operations.post("/apps/<int:app_id>/dead-letters/<int:dead_letter_id>/discard")
@login_required
def discard(app_id: int, dead_letter_id: int):
    """Give up on one dead letter: it leaves the list, and its task reads `discarded`."""
    app, dead = _dead_or_404(app_id, dead_letter_id)
    if EmptyForm().validate_on_submit():
        dead_id = dead.id
        dead_letters.discard_dead_letter(dead)
        flash(f"Dead letter {dead_id} discarded.", "info")
    return redirect(url_for("operations.dead_letter_list", app_id=app.id))
