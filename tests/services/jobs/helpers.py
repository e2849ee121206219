"""Test data of the jobs tests: a mix of events, a draft that changes their verdicts and what a
re-validation must report about it (computed here), an NDJSON file with what its import must
report; storing many events fast, and running jobs to the end in this process."""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from typing import Any

from flask import Flask, request
from sqlalchemy import func, select, text

from app.extensions import db
from app.ingest.endpoint_steps import request_info
from app.models import Event, Job, TrackedApp
from app.services.ingestion.verdicts import prepare_native
from app.services.jobs import impact, revalidation, work
from app.services.jobs import runner as jobs
from app.services.plans import versions as plans
from app.services.storage.events import store_events
from app.tasks.jobs import run_slice
from app.validation import CompiledPlan, compile_plan
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app

STORE_CHUNK = 10_000


def raw_event(i: int) -> dict[str, Any]:
    """Event number i of a repeating mix, most of it valid (as traffic is): under the demo plan
    a fifth is invalid and a tenth unplanned."""
    kind = i % 20
    if kind < 6:
        return {"eventName": "user_login", "userId": i, "method": "email"}
    if kind < 9:
        return {"eventName": "screen_view", "screen_name": f"screen-{i % 7}"}
    if kind < 11:
        items = [{"sku": f"s{i}", "quantity": 2 + i % 3}]
        return {"eventName": "purchase", "price": i / 100, "currency": "EUR", "items": items}
    if kind == 11:
        return {"eventName": "user_login", "userId": f"u{i}"}  # a string id
    if kind == 12:
        items = [{"sku": "a", "quantity": 1}, {"sku": "b", "quantity": 3}]
        return {"eventName": "purchase", "price": 5, "currency": "USD", "items": items}
    if kind == 13:
        items = [{"quantity": 0}] * (1 + i % 3)  # no sku, quantity below 1
        return {"eventName": "purchase", "price": 1, "currency": "EUR", "items": items}
    if kind in (14, 15):
        return {"eventName": "search", "query": f"q{i}"} if i % 40 else {"eventName": "search"}
    if kind == 16:
        return {"eventName": "user_login", "userId": i, "method": "github"}  # not in the enum
    if kind == 17:
        return {"eventName": "purchase", "price": -1, "currency": "eur", "n": i}
    return {"eventName": "user_login", "userId": i}


def draft_plan() -> dict[str, Any]:
    """A draft of the demo plan that changes many verdicts: string user ids allowed, a
    quantity of 1 no longer enough, `search` planned (query required), screen_view dropped."""
    plan = copy.deepcopy(DEMO_PLAN)
    events = plan["events"]
    events["user_login"]["properties"]["userId"]["type"] = ["integer", "string"]
    events["purchase"]["properties"]["items"]["items"]["properties"]["quantity"]["minimum"] = 2
    events["search"] = {
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    }
    del events["screen_view"]
    return plan


def messages(flask_app: Flask, write_key: str, raws: list[dict[str, Any]]) -> list[dict]:
    """The messages ingestion would queue for `raws` (one request's worth of context)."""
    with flask_app.test_request_context():
        info = request_info(
            flask_app.extensions["app_directory"].lookup(write_key), write_key, request
        )
        return [prepare_native(raw, info).message.to_dict() for raw in raws]


def store_raw_events(flask_app: Flask, write_key: str, raws: list[dict[str, Any]]) -> None:
    """Store events as the storage worker would, in chunks."""
    built = messages(flask_app, write_key, raws)
    with flask_app.app_context():
        for start in range(0, len(built), STORE_CHUNK):
            store_events(built[start : start + STORE_CHUNK])
        db.session.remove()


def run_to_the_end(flask_app: Flask, job_id: int) -> dict[str, Any]:
    """Run a job in this process, slice after slice, until it settles; the job as the API
    shows it."""
    with flask_app.app_context():
        while run_slice(job_id) == work.AGAIN:
            pass
        return job_dict(job_id)


def job_dict(job_id: int) -> dict[str, Any]:
    """A job as the API shows it, read afresh (inside an app context)."""
    db.session.rollback()
    return jobs.job_to_dict(db.session.get(Job, job_id))


def replicate_events(flask_app: Flask, times: int) -> int:
    """PostgreSQL: store every stored event `times` more times under new task ids (a fast way
    to many rows, ~20,000 a second here, where storing them one message at a time takes ~10,000;
    the copies follow the originals in id order). Returns how many events are stored now."""
    columns = [c.name for c in Event.__table__.columns if c.name not in ("id", "task_id")]
    names = ", ".join(columns)
    with flask_app.app_context():
        db.session.execute(
            text(
                f"INSERT INTO events (task_id, {names}) "
                f"SELECT gen_random_uuid()::text, {names} "
                f"FROM events, generate_series(1, :times) AS copy ORDER BY copy, id"
            ),
            {"times": times},
        )
        db.session.commit()
        count = db.session.scalar(select(func.count()).select_from(Event))
        db.session.remove()
        return count


def general(path: str) -> str:
    return re.sub(r"/\d+(?=/|$)", "/*", path)


def expected_changes(
    raws: list[dict[str, Any]], before: CompiledPlan, after: CompiledPlan, times: int = 1
) -> dict[str, Any]:
    """What re-validating these native events (stored under `before`) against `after` must
    report, computed here by validating each event with both plans; each event `times` over."""
    counts: Counter = Counter()
    rules: dict[tuple[str, str], list[int]] = {}
    for raw in raws:
        name = raw["eventName"]
        properties = {key: value for key, value in raw.items() if key != "eventName"}
        old, new = before.validate(name, properties), after.validate(name, properties)
        counts["before", old.status] += times
        counts["after", new.status] += times
        counts["unchanged" if old.status == new.status else f"newly_{new.status}"] += times
        old_keys = {(v["rule"], general(v["path"])) for v in old.violations}
        new_keys = {(v["rule"], general(v["path"])) for v in new.violations}
        for key in new_keys - old_keys:
            rules.setdefault(key, [0, 0])[0] += times
        for key in old_keys - new_keys:
            rules.setdefault(key, [0, 0])[1] += times
    statuses = ("valid", "invalid", "unplanned")
    return {
        "before": {status: counts["before", status] for status in statuses},
        "after": {status: counts["after", status] for status in statuses},
        "newly_invalid": counts["newly_invalid"],
        "newly_valid": counts["newly_valid"],
        "newly_unplanned": counts["newly_unplanned"],
        "unchanged": counts["unchanged"],
        "violations": {key: tuple(value) for key, value in rules.items()},
    }


def reported(result: dict[str, Any]) -> dict[str, Any]:
    """A job's result in the shape of expected_changes."""
    keys = ("before", "after", "newly_invalid", "newly_valid", "newly_unplanned", "unchanged")
    shaped = {key: result[key] for key in keys}
    shaped["violations"] = {
        (row["rule"], row["path"]): (row["gained"], row["lost"]) for row in result["violations"]
    }
    return shaped


def shop_with_draft(flask_app) -> tuple[int, str, str]:
    """An app with the demo plan published (v1) and draft_plan() saved as v2."""
    new = add_app(flask_app, plan=DEMO_PLAN)
    with flask_app.app_context():
        plans.save_plan(db.session.get(TrackedApp, new.app.id), draft_plan(), publish=False)
        db.session.remove()
    return new.app.id, new.app.write_key, new.read_key


BAD_LINES = {
    # position in each 1,000 lines → (line, error code)
    **{r: ("{not json", "invalid_json") for r in range(980, 984)},
    **{r: ("[1, 2]", "not_an_object") for r in range(984, 988)},
    **{r: ('{"foo": 1}', "no_event_name") for r in range(988, 991)},
    991: (json.dumps({"eventName": "big", "blob": "x" * 40_000}), "event_too_large"),
    992: ('{"eventName": ""}', "invalid_event"),
    993: ('{"type": "track"}', "invalid_event"),  # a track without its event
}


def ndjson_file(lines: int) -> tuple[bytes, dict[str, Any]]:
    """A file of `lines` lines: native events with messageIds, some without (deduplicated by
    payload hash), Segment-format messages, repeats of earlier lines, blank and bad lines.
    Returns it with what an import of it must report."""
    out: list[str] = []
    keys: set[str] = set()
    errors: list[tuple[int, str]] = []
    blank = duplicates = 0
    for i in range(lines):
        r = i % 1000
        if r in BAD_LINES:
            line, code = BAD_LINES[r]
            errors.append((i + 1, code))
        elif r == 995:
            line = "  "
            blank += 1
        elif r in (100, 600, 601, 401):  # the line before again (at 401: without messageId)
            line = out[-1]
            duplicates += 1
        else:
            if r == 400:
                event = raw_event(i)
                key = "h:" + json.dumps(event, sort_keys=True)
            elif r == 500:
                event = {"type": "track", "event": "purchase", "properties": {"price": i}}
            elif r == 501:
                event = {"event": "user_login", "properties": {"userId": i}}  # no type: track
            elif r == 502:
                event = {"type": "identify", "userId": f"u{i}", "traits": {"age": i}}
            else:
                event = raw_event(i)
            if r != 400:
                event["messageId"] = f"m{i}"
                key = f"m:m{i}"
            line = json.dumps(event)
            keys.add(key)
        out.append(line)
    expected = {
        "stored": len(keys),
        "duplicate": duplicates,
        "blank": blank,
        "errors": errors,
    }
    return ("\n".join(out) + "\n").encode(), expected


def rejudged(flask_app: Flask, app_id: int, plan_body: dict, version: int) -> dict[Any, dict]:
    """What the draft says of each stored event, by event name, computed here: judged with
    revalidation.stored_verdict, compared with the status and violations stored with it."""
    plan = compile_plan(plan_body, version=version)
    table: dict[Any, dict] = {}
    with flask_app.app_context():
        rows = db.session.execute(
            select(Event.id, Event.type, Event.event_name, Event.status, Event.violations)
            .add_columns(Event.payload)
            .where(Event.app_id == app_id)
            .order_by(Event.id)
        ).all()
        db.session.remove()
    for row in rows:
        verdict = revalidation.stored_verdict(plan, row.type, row.event_name, row.payload, "warn")
        entry = table.setdefault(
            row.event_name, {"counts": Counter(), "rules": Counter(), "examples": []}
        )
        entry["counts"]["events"] += 1
        if verdict.status != row.status:
            entry["counts"]["changed"] += 1
            entry["counts"][f"newly_{verdict.status}"] += 1
            if len(entry["examples"]) < 3:
                entry["examples"].append(
                    {
                        "id": row.id,
                        "before": row.status,
                        "after": verdict.status,
                        "violations": verdict.violations[:10],
                    }
                )
        old = {(v["rule"], general(v["path"])) for v in row.violations}
        new = {(v["rule"], general(v["path"])) for v in verdict.violations}
        for key in new - old:
            entry["rules"][key, "gained"] += 1
        for key in old - new:
            entry["rules"][key, "lost"] += 1
    return table


def shaped(rows: list[dict[str, Any]]) -> dict[Any, dict]:
    """The job's by_event rows in the shape of rejudged()."""
    table = {}
    for row in rows:
        counts = Counter({key: row[key] for key in impact.COUNTS})
        rules = Counter()
        for rule in row["rules"]:
            rules[(rule["rule"], rule["path"]), "gained"] += rule["gained"]
            rules[(rule["rule"], rule["path"]), "lost"] += rule["lost"]
        table[row["event_name"]] = {
            "counts": +counts,
            "rules": +rules,
            "examples": row["examples"],
        }
    return table
