"""Violation alerts and daily digests: which apps are due, claimed once, mailed to the owner
and posted to the app's active webhooks.

An app is failing when invalid plus unplanned events make up more than its `alert_threshold` of
the events of its window: an unplanned event is one the plan does not know, which a release gate
treats as failing too (app/services/statistics/run_reports.py), so a build that renames an
event alerts.

A mail is queued only after its claim was committed: one `UPDATE ... WHERE` on the app's row
that succeeds for one checker only (PostgreSQL re-reads a row another transaction changed before
updating it; SQLite writes one transaction at a time), so concurrent checkers and reruns send one.
The webhook deliveries are recorded in the claim's transaction, so they come and go with it:
one claim, one mail and one message per webhook.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from flask import render_template
from sqlalchemy import func, or_, select, update

from app.extensions import db
from app.models import Event, EventMinuteStat, EventStat, TrackedApp, User, ViolationStat, Webhook
from app.models.types import utcnow
from app.services.statistics import pii_counts
from app.services.statistics.aggregates import general_path, violation_totals
from app.services.webhooks import deliveries, payloads
from app.validation.verdict import STATUSES
from celery_config import ALERT_PRIORITY, DIGEST_PRIORITY

# An alert lists the violations of at most this many of the window's newest failing events,
# so a storm of a million events costs one bounded read of the (app_id, received_at) index.
ALERT_SAMPLE_EVENTS = 5000
ALERT_TOP = 5
DIGEST_TOP = 10


@dataclass(frozen=True)
class Mail:
    """One e-mail, as the `emails` queue takes it."""

    to: list[str]
    subject: str
    text: str
    html: str
    # Its place in the `emails` queue (Redis: 0 first, 9 last). Account mail (sign-up and
    # reset codes) is sent at 0: a person waits for it; alerts come next, digests last.
    priority: int = 0
    # The figures the templates were given: webhooks are sent the same ones.
    context: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _by_status(rows: Any) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for status, count in rows:
        counts[status] = counts.get(status, 0) + int(count)
    return counts


def _failing(counts: dict[str, int]) -> int:
    return counts["invalid"] + counts["unplanned"]


def _due_apps(*conditions: Any) -> list[tuple[TrackedApp, str | None]]:
    """Apps that meet the conditions and have someone to tell (an owner, whose address comes
    with it, or an active webhook), oldest first."""
    has_webhook = select(Webhook.id).where(Webhook.app_id == TrackedApp.id, Webhook.active).exists()
    return [
        (app, email)
        for app, email in db.session.execute(
            select(TrackedApp, User.email)
            .outerjoin(User, User.id == TrackedApp.owner_id)
            .where(or_(User.id.is_not(None), has_webhook), *conditions)
            .order_by(TrackedApp.id)
        )
    ]


def _claim(
    app: TrackedApp,
    column: Any,
    value: Any,
    unclaimed: Any,
    message: str,
    mail: Mail,
    public_url: str,
) -> list[int] | None:
    """Set one app's column to `value` if `unclaimed` still holds and, in the same transaction,
    record the message's deliveries to the app's active webhooks; their ids for the one that
    claimed it, None for the others."""
    result = db.session.execute(
        update(TrackedApp)
        .where(TrackedApp.id == app.id, unclaimed)
        .values({column: value})
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.commit()
        return None
    data = payloads.figures(message, mail.context)
    ids = deliveries.record(app, deliveries.active_webhooks(app.id), message, data, public_url)
    db.session.commit()
    return ids


Send = Callable[[Mail], None]
# Queues the delivery tasks of these ids; a delivery it fails to queue is sent by the sweep.
Deliver = Callable[[list[int]], None]


def _queue(
    send: Send,
    deliver: Deliver | None,
    mail: Mail,
    ids: list[int],
    app_id: int,
    column: Any,
    claimed: Any,
    previous: Any,
) -> None:
    """Hand the mail on (if the app has an owner) and queue the webhook deliveries; if the mail
    fails, give the claim back, and its deliveries with it, so a later run tries again."""
    try:
        if mail.to:
            send(mail)
    except Exception:
        db.session.execute(
            update(TrackedApp)
            .where(TrackedApp.id == app_id, column == claimed)
            .values({column: previous})
            .execution_options(synchronize_session=False)
        )
        deliveries.discard(ids)
        db.session.commit()
        raise
    if deliver is not None and ids:
        deliver(ids)


def _render(template: str, **context: Any) -> tuple[str, str]:
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )


def _one_line(name: str) -> str:
    """A name fit for a Subject header (a line break in it would make the mail unsendable)."""
    return " ".join(name.split())


def _public_url(public_url: str, path: str) -> str:
    return public_url.rstrip("/") + path


# Alerts


def change_settings(
    app: TrackedApp,
    threshold: float | None,
    window_minutes: int,
    min_events: int,
    cooldown_minutes: int,
) -> None:
    """Set an app's alert rule: a failing share (0-1; None turns alerts off) over a window."""
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError("the alert threshold is a share from 0 to 1")
    if min(window_minutes, min_events, cooldown_minutes) < 1:
        raise ValueError("window, minimum and cooldown are at least 1")
    app.alert_threshold = threshold
    app.alert_window_minutes = window_minutes
    app.alert_min_events = min_events
    app.alert_cooldown_minutes = cooldown_minutes
    db.session.commit()


def window_start(minutes: int, now: datetime) -> datetime:
    """The start of an alert window: `minutes` before now, down to its minute (the per-minute
    counts cannot split one), so the window holds at least that many minutes."""
    return _minute(now - timedelta(minutes=minutes))


def window_counts(app_id: int, start: datetime, now: datetime) -> dict[str, int]:
    """Events by status in the minutes from `start` to `now`, from the per-minute counts."""
    return _by_status(
        db.session.execute(
            select(EventMinuteStat.status, func.sum(EventMinuteStat.count))
            .where(
                EventMinuteStat.app_id == app_id,
                EventMinuteStat.minute >= start,
                EventMinuteStat.minute <= now,
            )
            .group_by(EventMinuteStat.status)
        )
    )


def window_violations(
    app_id: int, start: datetime, now: datetime, limit: int = ALERT_TOP
) -> tuple[list[dict[str, Any]], int]:
    """The most frequent (event, rule, path) violations among the newest failing events of the
    window (at most ALERT_SAMPLE_EVENTS), and how many events were read.

    Read newest first along the (app_id, received_at) index: the window is over the threshold,
    so failing events are common in it and the scan stops soon after the sample is full.
    """
    rows = db.session.execute(
        select(Event.event_name, Event.violations)
        .where(
            Event.app_id == app_id,
            Event.received_at >= start,
            Event.received_at <= now,
            Event.status != "valid",
        )
        .order_by(Event.received_at.desc())
        .limit(ALERT_SAMPLE_EVENTS)
    ).all()
    counts: Counter = Counter(
        (name, str(v.get("rule")), general_path(str(v.get("path", ""))))
        for name, violations in rows
        for v in violations or ()
    )
    return _top(counts, limit), len(rows)


def _top(counts: Counter, limit: int) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [
        {"event_name": name, "rule": rule, "path": path, "count": count}
        for (name, rule, path), count in ranked
    ]


def alert_mail(
    app: TrackedApp,
    to: str | None,
    start: datetime,
    now: datetime,
    counts: dict[str, int],
    public_url: str,
) -> Mail:
    """The alert e-mail of an app whose window passed its threshold (links under
    `public_url`, the PUBLIC_URL setting)."""
    total = sum(counts.values())
    share = _failing(counts) / total
    violations, sampled = window_violations(app.id, start, now)
    context = {
        "app": app,
        "start": start,
        "end": now,
        "counts": counts,
        "total": total,
        "share": share,
        "violations": violations,
        "sampled": sampled,
        "sample_limit": ALERT_SAMPLE_EVENTS,
        "pii_findings": pii_counts.window_findings(app.id, start, now),
        "link": _public_url(public_url, f"/apps/{app.id}/live?status=invalid"),
    }
    text, html = _render("alert", **context)
    subject = (
        f"[{_one_line(app.name)}] {share:.0%} of events failing in the last "
        f"{app.alert_window_minutes} minutes"
    )
    return Mail([to] if to else [], subject, text, html, ALERT_PRIORITY, context)


def check_alerts(
    send: Send, public_url: str, now: datetime | None = None, deliver: Deliver | None = None
) -> list[int]:
    """Mail (through `send`, called after the claim's commit) the owner of each app whose
    failing share passed its threshold, and post to its active webhooks (queued through
    `deliver`; without it the sweep sends them), at most once per cooldown; returns the apps
    alerted."""
    now = now or utcnow()
    alerted = []
    for app, email in _due_apps(TrackedApp.alert_threshold.is_not(None)):
        cutoff = now - timedelta(minutes=app.alert_cooldown_minutes)
        if app.last_alert_at is not None and app.last_alert_at >= cutoff:
            continue  # cooling down: not even worth a count
        start = window_start(app.alert_window_minutes, now)
        counts = window_counts(app.id, start, now)
        total = sum(counts.values())
        if not total or total < app.alert_min_events:
            continue
        if _failing(counts) / total <= app.alert_threshold:
            continue
        mail = alert_mail(app, email, start, now, counts, public_url)
        previous = app.last_alert_at
        unclaimed = or_(TrackedApp.last_alert_at.is_(None), TrackedApp.last_alert_at < cutoff)
        column = TrackedApp.last_alert_at
        ids = _claim(app, column, now, unclaimed, payloads.ALERT, mail, public_url)
        if ids is not None:
            _queue(send, deliver, mail, ids, app.id, column, now, previous)
            alerted.append(app.id)
    db.session.commit()  # end the read transaction
    return alerted


# Daily digests


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def day_counts(app_id: int, day: date) -> dict[str, int]:
    """Events of one UTC day by status, from the hourly counts."""
    start, end = _day_bounds(day)
    return _by_status(
        db.session.execute(
            select(EventStat.status, func.sum(EventStat.count))
            .where(EventStat.app_id == app_id, EventStat.hour >= start, EventStat.hour < end)
            .group_by(EventStat.status)
        )
    )


def day_event_health(app_id: int, day: date) -> list[dict[str, Any]]:
    """Per event name of one UTC day: counts by status and the failing share, worst first."""
    start, end = _day_bounds(day)
    rows = db.session.execute(
        select(EventStat.event_name, EventStat.status, func.sum(EventStat.count))
        .where(EventStat.app_id == app_id, EventStat.hour >= start, EventStat.hour < end)
        .group_by(EventStat.event_name, EventStat.status)
    )
    events: dict[str, dict[str, int]] = {}
    for name, status, count in rows:
        events.setdefault(name, dict.fromkeys(STATUSES, 0))[status] = int(count)
    health = [
        {
            "event_name": name,
            **counts,
            "total": sum(counts.values()),
            "share": _failing(counts) / sum(counts.values()),
        }
        for name, counts in events.items()
    ]
    return sorted(health, key=lambda e: (-e["share"], -e["total"], e["event_name"]))


def day_violations(app_id: int, day: date, limit: int = DIGEST_TOP) -> list[dict[str, Any]]:
    """The most frequent (event, rule, path) violations of one UTC day, from the hourly counts."""
    start, end = _day_bounds(day)
    hours = (ViolationStat.hour >= start, ViolationStat.hour < end)
    # Ranked here, not by the database, so ties fall the same way as in alerts (no collation).
    return _top(violation_totals(app_id, *hours), limit)


def digest_mail(
    app: TrackedApp, to: str | None, day: date, counts: dict[str, int], public_url: str
) -> Mail:
    """The digest e-mail of one app's day (links under `public_url`)."""
    total = sum(counts.values())
    share = _failing(counts) / total
    context = {
        "app": app,
        "day": day,
        "counts": counts,
        "total": total,
        "share": share,
        "violations": day_violations(app.id, day),
        "health": day_event_health(app.id, day),
        "pii_findings": pii_counts.day_findings(app.id, day),
        "link": _public_url(public_url, f"/apps/{app.id}/overview"),
    }
    text, html = _render("digest", **context)
    subject = f"[{_one_line(app.name)}] {day.isoformat()}: {total:,} events, {share:.1%} failing"
    return Mail([to] if to else [], subject, text, html, DIGEST_PRIORITY, context)


def send_daily_digests(
    send: Send, public_url: str, today: date | None = None, deliver: Deliver | None = None
) -> list[int]:
    """Mail (through `send`, after the claim's commit) each owned app's digest of yesterday
    (UTC) once, and post it to the app's active webhooks (queued through `deliver`); returns
    the ids of the apps told.

    An app without events that day gets no mail and its day stays unmarked: `last_digest_on` is
    the day whose digest was sent, and a rerun later that day (say, once a lagging count caught
    up) looks again at the cost of one indexed sum.
    """
    day = (today or utcnow().date()) - timedelta(days=1)
    sent = []
    unsent = or_(TrackedApp.last_digest_on.is_(None), TrackedApp.last_digest_on < day)
    for app, email in _due_apps(unsent):
        counts = day_counts(app.id, day)
        if not sum(counts.values()):
            continue
        mail = digest_mail(app, email, day, counts, public_url)
        previous = app.last_digest_on
        column = TrackedApp.last_digest_on
        ids = _claim(app, column, day, unsent, payloads.DIGEST, mail, public_url)
        if ids is not None:
            _queue(send, deliver, mail, ids, app.id, column, day, previous)
            sent.append(app.id)
    db.session.commit()
    return sent
