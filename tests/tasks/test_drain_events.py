"""The full profile's storage path: requests put events on a Redis stream and queue one drain
task; the drain stores them in batches, takes over what a dead consumer left, stores each once.
Each test here drains in its own process; those with a real worker are in test_drain_worker.py
(its worker lives as long as its module, and would drain the stream under these tests)."""

from __future__ import annotations

import base64
import json
import zlib

import redis
from sqlalchemy import select, text

from app.extensions import db
from app.models import DeadLetter, Event
from app.services.ingestion import event_stream
from app.services.ingestion.event_stream import DRAIN_FLAG, GROUP, STREAM, EventStream
from app.services.storage.events import store_events
from app.tasks.events import (
    FIRST_READ_ENTRIES,
    MAX_ENTRIES,
    drain_events,
    store_entries,
)
from tests.helpers import (
    DEMO_PLAN,
    broker_messages,
    count_events,
    queue_length,
    queued_events,
    queued_message,
)
from tests.ops.prom import delta, scrape_client
from tests.support.profiles import add_app


def _post(flask_app, write_key: str, n: int):
    return flask_app.test_client().post(
        f"/api/logs/{write_key}", json={"eventName": "user_login", "userId": n}
    )


def _redis(flask_app) -> redis.Redis:
    return redis.Redis.from_url(flask_app.config["REDIS_URL"], decode_responses=True)


def test_requests_queue_their_events_and_one_drain_task(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(5)]
    assert queue_length(full_app) == 5
    assert [e["task_id"] for e in queued_events(full_app)] == [a["task_id"] for a in answers]
    # One drain message for five requests: the flag says one is queued already.
    [drain] = broker_messages(full_app)
    assert drain["headers"]["task"] == "app.tasks.events.drain_events"
    with _redis(full_app) as client:
        assert client.exists(DRAIN_FLAG)


def test_a_batch_request_is_one_stream_entry(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    events = [{"eventName": "user_login", "userId": n} for n in range(40)]
    response = full_app.test_client().post(f"/api/logs/{shop.app.write_key}/batch", json=events)
    assert response.status_code == 202
    assert queue_length(full_app) == 1
    assert len(queued_events(full_app)) == 40


def _batch(flask_app, write_key: str, ids: range):
    events = [{"eventName": "user_login", "userId": n, "messageId": f"m-{n}"} for n in ids]
    response = flask_app.test_client().post(f"/api/logs/{write_key}/batch", json=events)
    assert response.status_code == 202
    return response.json["results"]


def _entries(flask_app) -> list[dict[bytes, bytes]]:
    with redis.Redis.from_url(flask_app.config["REDIS_URL"]) as client:
        return [fields for _, fields in client.xrange(STREAM)]


def test_a_batch_waits_compressed_and_a_single_event_as_it_is(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = _batch(full_app, shop.app.write_key, range(40))
    single = _post(full_app, shop.app.write_key, 99).json
    packed, plain = _entries(full_app)
    assert set(packed) == {b"z"} and set(plain) == {b"e"}
    unpacked = event_stream.entry_text(packed)
    assert len(packed[b"z"]) * 4 < len(unpacked)  # what Redis holds until it is stored
    assert [m["task_id"] for m in json.loads(unpacked)] == [a["task_id"] for a in answers]
    with full_app.app_context():
        drain_events.apply()
    assert _stored_task_ids(full_app) == {a["task_id"] for a in [*answers, single]}


def test_a_packed_batch_with_duplicates_stores_only_its_new_events_once(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    first = _batch(full_app, shop.app.write_key, range(20))
    second = _batch(full_app, shop.app.write_key, range(10, 50))
    assert [a["status"] for a in second].count("duplicate") == 10
    assert [a["task_id"] for a in second[:10]] == [a["task_id"] for a in first[10:]]
    _, partial = _entries(full_app)
    assert set(partial) == {b"z", b"keep"}
    assert partial[b"keep"] == ",".join(str(i) for i in range(10, 40)).encode()
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app) == 50
    assert _stored_task_ids(full_app) == {a["task_id"] for a in [*first, *second]}


def test_an_entry_that_cannot_be_unpacked_is_quarantined_and_the_others_stored(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    good = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(3)
    ]
    two = zlib.compress(json.dumps(good[1:]).encode())
    entries = [
        {"z": b"not zlib"},
        {"z": zlib.compress(b'[{"a": 1}]'), "keep": "3"},  # no fourth event
        {"z": zlib.compress(b'{"a": 1}'), "keep": "0"},  # not a list
        {"z": zlib.compress(json.dumps(good[:1]).encode()), "keep": "0"},
        {"z": two},
    ]
    with _redis(full_app) as client:
        for fields in entries:
            client.xadd(STREAM, fields)
    with full_app.app_context():
        drain_events.apply()
        dead = list(db.session.scalars(select(DeadLetter)))
        db.session.remove()
    assert _stored_task_ids(full_app) == {m["task_id"] for m in good}
    assert len(dead) == 3 and all("not JSON" in d.error for d in dead)
    with _redis(full_app) as client:
        assert client.xlen(STREAM) == 0


def test_a_packed_entry_stored_the_careful_way_stores_only_the_events_it_keeps(full_app):
    """A poison entry in the same read sends every entry down the entry-by-entry path: there
    too only the positions an entry keeps are stored."""
    shop = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(4)
    ]
    with _redis(full_app) as client:
        client.xadd(STREAM, {"e": "[not json"})
        client.xadd(STREAM, {"z": zlib.compress(json.dumps(messages).encode()), "keep": "1,3"})
    with full_app.app_context():
        drain_events.apply()
    assert _stored_task_ids(full_app) == {messages[1]["task_id"], messages[3]["task_id"]}


def test_drain_stores_everything_then_empties_the_stream_and_drops_its_flag(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answers = [_post(full_app, shop.app.write_key, n).json for n in range(30)]
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app) == 30
    for answer in answers:
        assert count_events(full_app, task_id=answer["task_id"]) == 1
    with _redis(full_app) as client:
        assert client.xlen(STREAM) == 0
        assert client.xpending(STREAM, GROUP)["pending"] == 0
        assert not client.exists(DRAIN_FLAG)  # so the next request queues a drain again


def test_entries_a_dead_consumer_left_pending_are_taken_over(full_app, monkeypatch):
    shop = add_app(full_app, plan=DEMO_PLAN)
    answer = _post(full_app, shop.app.write_key, 1).json
    with full_app.app_context(), _redis(full_app) as client:
        dead = EventStream(client, "worker-that-died")
        assert len(dead.read(10)) == 1  # read, never acknowledged
        monkeypatch.setattr(event_stream, "CLAIM_IDLE_MS", 0)
        drain_events.apply()
        assert client.xpending(STREAM, GROUP)["pending"] == 0
    assert count_events(full_app, task_id=answer["task_id"]) == 1


def test_an_entry_delivered_twice_stores_its_events_once(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(3)
    ]
    with _redis(full_app) as client:
        for _ in range(2):
            client.xadd(STREAM, {"e": json.dumps(messages)})
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app) == 3


def test_the_stream_comes_back_after_redis_lost_it(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    with full_app.app_context():
        drain_events.apply()  # creates the group
    with _redis(full_app) as client:
        client.delete(STREAM)  # e.g. a Redis restarted without its data
    answer = _post(full_app, shop.app.write_key, 1).json
    with full_app.app_context():
        drain_events.apply()
    assert count_events(full_app, task_id=answer["task_id"]) == 1


def _stored_task_ids(flask_app) -> set[str]:
    with flask_app.app_context():
        return set(db.session.scalars(select(Event.task_id)))


def test_a_bad_event_in_a_drained_batch_is_dead_lettered_and_its_neighbours_stored(full_app):
    shop = add_app(full_app, plan=DEMO_PLAN)
    good = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(3)
    ]
    bad = queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": 9})
    bad["received_at"] = "not a time"  # no retry can fix it
    with _redis(full_app) as client:
        client.xadd(STREAM, {"e": json.dumps(good[:2] + [bad])})
        client.xadd(STREAM, {"e": json.dumps(good[2:])})
    with full_app.app_context():
        drain_events.apply()
        [dead] = db.session.scalars(select(DeadLetter)).all()
    assert dead.task_id == bad["task_id"] and "not a time" in dead.error
    assert count_events(full_app) == 3
    with _redis(full_app) as client:
        assert client.xlen(STREAM) == 0


def test_entries_postgresql_or_python_refuses_are_quarantined_and_those_behind_stored(full_app):
    """Entries XADDed as they are (nothing at the door checked them): each kind of poison is
    set aside as a dead letter, alone, and the good entries around them are stored."""
    shop = add_app(full_app, plan=DEMO_PLAN)
    key = shop.app.write_key
    good = [
        queued_message(full_app, key, {"eventName": "user_login", "userId": n}) for n in range(4)
    ]
    nul = queued_message(full_app, key, {"eventName": "user_login", "userId": 10})
    nul["test_run"] = "a\x00b"  # PostgreSQL refuses U+0000 in jsonb and text
    surrogate = queued_message(full_app, key, {"eventName": "user_login", "userId": 11})
    surrogate["device_id"] = "\ud800"
    year_one = queued_message(full_app, key, {"eventName": "user_login", "userId": 12})
    year_one["timestamp"] = "0001-01-01T00:00:00+14:00"  # PostgreSQL would keep year 1 BC
    huge = queued_message(full_app, key, {"eventName": "user_login", "userId": 13})
    huge["payload"] = {**huge["payload"], "n": float("inf")}
    entries = [
        "[" * 200_000 + "]" * 200_000,  # deeper than PostgreSQL's stack and Python's parser
        json.dumps([good[0]]),
        json.dumps([nul, good[1]]),  # the poison's neighbour in its entry is stored too
        b"\xff\xfe not UTF-8",
        "[not json",
        json.dumps([surrogate]),
        json.dumps({"not": "a list"}),
        json.dumps([year_one, huge]),
        json.dumps(good[2:]),
    ]
    client = full_app.test_client()
    before = scrape_client(client)
    with _redis(full_app) as redis_client:
        for entry in entries:
            redis_client.xadd(STREAM, {"e": entry})
    with full_app.app_context():
        drain_events.apply()
        dead = {d.task_id: d for d in db.session.scalars(select(DeadLetter))}
        db.session.remove()
    assert _stored_task_ids(full_app) == {m["task_id"] for m in good}
    poisons = [nul, surrogate, year_one, huge]
    assert {m["task_id"] for m in poisons} <= set(dead)
    assert len(dead) == 8  # and the four entries that are not lists of messages
    assert "testRun" in dead[nul["task_id"]].error or "test_run" in dead[nul["task_id"]].error
    assert "timestamp" in dead[year_one["task_id"]].error
    assert "not finite" in dead[huge["task_id"]].error
    # What PostgreSQL could not keep as it came is kept escaped, or as base64 of its bytes.
    assert "\\u0000" in dead[nul["task_id"]].message["escaped"]
    raw = [d for d in dead.values() if "base64" in d.message]
    assert len(raw) == 4 and all(d.app_id is None for d in raw)
    assert base64.b64decode(raw[0].message["base64"]) in [
        e if isinstance(e, bytes) else e.encode() for e in entries
    ]
    after = scrape_client(client)
    assert delta(after, before, "lvd_quarantined_total") == 8
    with _redis(full_app) as redis_client:
        assert redis_client.xlen(STREAM) == 0
        assert redis_client.xpending(STREAM, GROUP)["pending"] == 0
    # The dead letters are listed for their app, and their tasks read failed.
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    listed = client.get(f"/api/apps/{shop.app.id}/dead-letters", headers=auth)
    assert listed.status_code == 200 and len(listed.json["dead_letters"]) == 4
    task = client.get(f"/api/tasks/{nul['task_id']}", headers=auth).json
    assert task["state"] == "failed"


def test_rows_with_times_python_cannot_hold_are_read_without_error(full_app):
    """Rows stored before the range check (year 1 BC, year 10000) still read: every read path
    answers 200 and shows the nearest time Python holds."""
    shop = add_app(full_app, plan=DEMO_PLAN)
    messages = [
        queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": n})
        for n in range(2)
    ]
    with full_app.app_context():
        store_events(messages)
        db.session.execute(
            text(
                "UPDATE events SET timestamp = CASE WHEN task_id = :a"
                " THEN '0001-01-01T00:00:00+14:00'::timestamptz"
                " ELSE '9999-12-31T23:59:59-14:00'::timestamptz END"
            ),
            {"a": messages[0]["task_id"]},
        )
        db.session.commit()
    client = full_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    page = client.get(f"/api/apps/{shop.app.id}/events", headers=auth)
    assert page.status_code == 200, page.get_data(as_text=True)
    times = {e["task_id"]: e["timestamp"] for e in page.json["events"]}
    assert times[messages[0]["task_id"]].startswith("0001-01-01")
    assert times[messages[1]["task_id"]].startswith("9999-12-31")
    for message in messages:
        task = client.get(f"/api/tasks/{message['task_id']}", headers=auth)
        assert task.status_code == 200 and task.json["state"] == "stored"


def test_the_one_statement_path_refuses_times_postgresql_would_keep(full_app):
    """A batch PostgreSQL would take whole (year 1 BC is a valid timestamptz) must still not
    store a time Python cannot read back: the statement fails, the entry is quarantined."""
    shop = add_app(full_app, plan=DEMO_PLAN)
    good = queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": 1})
    year_one = queued_message(
        full_app, shop.app.write_key, {"eventName": "user_login", "userId": 2}
    )
    year_one["sent_at"] = "0001-01-01T00:00:00+14:00"
    with _redis(full_app) as redis_client:
        redis_client.xadd(STREAM, {"e": json.dumps([good])})
        redis_client.xadd(STREAM, {"e": json.dumps([year_one])})
    with full_app.app_context():
        drain_events.apply()
        [dead] = db.session.scalars(select(DeadLetter)).all()
    assert dead.task_id == year_one["task_id"] and "sent_at" in dead.error
    assert _stored_task_ids(full_app) == {good["task_id"]}


def test_json_deeper_than_postgresql_parses_is_data_not_a_database_outage(full_app):
    """PostgreSQL calls it a program limit (an OperationalError to the driver); retrying it as
    if the database were down would hold back every entry behind it for good."""
    shop = add_app(full_app, plan=DEMO_PLAN)
    good = queued_message(full_app, shop.app.write_key, {"eventName": "user_login", "userId": 1})
    deep = "[" * 200_000 + "]" * 200_000
    with full_app.app_context():
        store_entries([("1-0", deep.encode()), ("2-0", json.dumps([good]).encode())])
        [dead] = db.session.scalars(select(DeadLetter)).all()
    assert dead.task_id == "entry:1-0"
    assert _stored_task_ids(full_app) == {good["task_id"]}


def test_a_drains_first_read_is_small_and_the_next_follow_the_entries_size(full_app, monkeypatch):
    # Its first read cannot know how large entries are; batch entries of up to 500 KB read
    # 500 at a time held tens of thousands of events in the worker (docs/perf/memory.md).
    shop = add_app(full_app, plan=DEMO_PLAN)
    for batch in range(12):
        events = [{"eventName": "user_login", "userId": batch * 20 + n} for n in range(20)]
        response = full_app.test_client().post(f"/api/logs/{shop.app.write_key}/batch", json=events)
        assert response.status_code == 202
    reads: list[tuple[int, int]] = []
    real_read = EventStream.read

    def read(stream: EventStream, count: int):
        entries = real_read(stream, count)
        reads.append((count, len(entries)))
        return entries

    monkeypatch.setattr(EventStream, "read", read)
    with full_app.app_context():
        drain_events.apply()
    assert sum(entries for _, entries in reads) == 12  # all of them: no other drain ran
    assert count_events(full_app) == 240
    assert reads[0] == (FIRST_READ_ENTRIES, FIRST_READ_ENTRIES)
    # ~12 KB entries: the next read asks for about DRAIN_BYTES' worth (~170 entries).
    assert FIRST_READ_ENTRIES < reads[1][0] <= MAX_ENTRIES
