"""A re-validation's `by_event` (the impact of a draft per event name) equals a direct
re-judgement of the same stored events, per name and in total, when the job runs in many small
batches, each slice resuming from its saved result; past MAX_EVENT_NAMES names, the rest are
summed under the name None. Both profiles (the bound: micro)."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from app.extensions import db
from app.ingest.endpoint_steps import request_info
from app.models import TrackedApp
from app.services.ingestion.verdicts import prepare_sdk
from app.services.jobs import impact, revalidation, work
from app.services.storage.events import store_events
from app.tasks.jobs import run_slice
from tests.services.jobs.helpers import (
    draft_plan,
    job_dict,
    raw_event,
    rejudged,
    shaped,
    shop_with_draft,
    store_raw_events,
)

# Segment-format messages beside the native mix: the same event names, another payload shape.
SDK_MESSAGES = [
    ("track", {"event": "user_login", "properties": {"userId": "u-7", "method": "email"}}),
    ("track", {"event": "purchase", "properties": {"price": 3, "currency": "EUR", "items": []}}),
    ("track", {"event": "screen_view", "properties": {"screen_name": "home"}}),
    ("identify", {"userId": "u1", "traits": {"email": "a@example.com"}}),
]


def store_sdk_messages(flask_app: Flask, write_key: str) -> None:
    with flask_app.test_request_context():
        info = request_info(
            flask_app.extensions["app_directory"].lookup(write_key), write_key, request
        )
        built = [prepare_sdk(raw, info, kind).message.to_dict() for kind, raw in SDK_MESSAGES]
    with flask_app.app_context():
        assert store_events(built) == len(built)
        db.session.remove()


def run_in_slices_of_one_batch(flask_app: Flask, job_id: int) -> dict[str, Any]:
    """Run the job one batch per slice: each slice claims it afresh and goes on from the
    result the previous one saved, as a resumed job does."""
    with flask_app.app_context():
        slices = 1
        while run_slice(job_id, batches=1) == work.AGAIN:
            slices += 1
        job = job_dict(job_id)
        db.session.remove()
    job["slices"] = slices
    return job


def test_impact_per_event_name_equals_a_direct_rejudgement(any_app, monkeypatch):
    app_id, write_key, _ = shop_with_draft(any_app)
    store_raw_events(any_app, write_key, [raw_event(i) for i in range(400)])
    store_sdk_messages(any_app, write_key)
    # Small batches: names, rules and examples of one event name meet over many merges.
    monkeypatch.setattr(revalidation, "BATCH_SIZE", 37)
    with any_app.app_context():
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()
    job = run_in_slices_of_one_batch(any_app, job_id)
    assert job["state"] == "done" and job["slices"] > 10, job
    result = job["result"]

    expected = rejudged(any_app, app_id, draft_plan(), 2)
    assert shaped(result["by_event"]) == expected
    # Every kind of change is covered by the mix, and the examples are capped at 3.
    changed = {name: e["counts"]["changed"] for name, e in expected.items()}
    assert changed["user_login"] > 3 and changed["screen_view"] > 3 and changed["search"] > 3
    assert all(len(row["examples"]) == min(3, row["changed"]) for row in result["by_event"])
    # The rows add up to the job's totals, and the most changed come first.
    rows = result["by_event"]
    assert sum(row["events"] for row in rows) == job["done"] == job["total"] == 404
    for key in ("newly_invalid", "newly_valid", "newly_unplanned"):
        assert sum(row[key] for row in rows) == result[key]
    assert sum(row["changed"] for row in rows) == job["done"] - result["unchanged"]
    assert [row["changed"] for row in rows] == sorted(
        (row["changed"] for row in rows), reverse=True
    )
    # The result keys of before are all still there.
    assert {"before", "after", "unchanged", "would_block", "violations"} <= set(result)


def test_past_200_event_names_the_rest_are_summed_under_none(micro_app, monkeypatch):
    flask_app = micro_app
    app_id, write_key, _ = shop_with_draft(flask_app)
    names = [f"custom_{i:03d}" for i in range(impact.MAX_EVENT_NAMES + 5)]
    # Each name twice, spread over batches; string user ids (valid under the draft) among them.
    raws = [{"eventName": name, "n": 1} for name in names[:100]]
    raws += [{"eventName": "user_login", "userId": f"u{i}"} for i in range(4)]
    raws += [{"eventName": name, "n": 1} for name in names[100:]]
    raws += [{"eventName": name, "n": 2} for name in names]
    store_raw_events(flask_app, write_key, raws)
    monkeypatch.setattr(revalidation, "BATCH_SIZE", 50)
    with flask_app.app_context():
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()
    job = run_in_slices_of_one_batch(flask_app, job_id)
    rows = {row["event_name"]: row for row in job["result"]["by_event"]}

    named = [name for name in rows if name is not None]
    assert len(named) == impact.MAX_EVENT_NAMES
    # The first 200 names met in id order have rows: user_login (met after custom_099) and
    # the first 199 custom names; the events of the 6 names met later are summed.
    assert "user_login" in rows and set(names[:199]) <= set(rows)
    rest = names[199:]
    assert not set(rest) & set(rows)
    other = rows[None]
    assert other["events"] == 2 * len(rest) and other["changed"] == 0
    assert job["result"]["by_event"][-1]["event_name"] is None  # the summed rest comes last
    login = rows["user_login"]
    assert (login["events"], login["changed"], login["newly_valid"]) == (4, 4, 4)
    assert len(login["examples"]) == impact.MAX_EXAMPLES
    assert [e["before"] + ">" + e["after"] for e in login["examples"]] == ["invalid>valid"] * 3
    assert sum(row["events"] for row in rows.values()) == len(raws) == job["done"]
