"""The dead-letter console: a page per app that lists pending dead letters, opens one with its
message as text, replays one or all and discards one (each a form with its CSRF token), and the
API beside the existing list and replay: inspect one, discard one.

Bad inputs tried: posts without a CSRF token or with a forged one (a 400 page, nothing changes);
another user's app and another app's dead letter on every page and form (404); dead letter ids 0,
10**20 (beyond any column) and `abc`, a discarded id, a second discard, GET on the discard URL
and POST on the inspect URL (JSON 404 or 405, never a 500); replaying one already replayed;
replaying with the broker unreachable (the dead letter stays pending); an event name, property
and error carrying markup and a script (shown as text, inert).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import DeadLetter
from app.services.apps import NewApp, create_app_record
from app.services.storage.dead_letters import mark_replayed
from app.tasks.events import TASK_NAME
from stack.servers import wait_until
from tests.dashboard.helpers import csrf_token, submit
from tests.helpers import assert_error, count_events, queued_events
from tests.ops.helpers import dead_letter, owner_with_app

HUGE = 10**20
SCRIPT_NAME = '<script>document.title="pwned"</script>'
MARKUP = '<img src=x onerror="alert(1)"><b>bold</b>'


def dead_letters_of(flask_app: Flask, app_id: int) -> dict[int, Any]:
    """{id: replayed_at} of an app's dead letters, as stored (a discarded one is not listed)."""
    with flask_app.app_context():
        rows = db.session.execute(
            select(DeadLetter.id, DeadLetter.replayed_at).where(
                DeadLetter.app_id == app_id, DeadLetter.discarded_at.is_(None)
            )
        ).all()
        db.session.remove()
    return dict(rows)


def text_of(page: str, element_id: str) -> str:
    """The text of the element with this id (a <pre>, here), unescaped as a browser shows it."""
    match = re.search(rf'id="{element_id}">(.*?)</', page, re.S)
    assert match, f"no #{element_id}"
    return html.unescape(match.group(1))


@pytest.fixture
def owner(micro_app):
    return owner_with_app(micro_app, "owner@example.com", "Shop")


def test_the_page_lists_pending_dead_letters_and_opens_one_as_inert_text(micro_app, owner):
    client, shop = owner
    plain_id, _ = dead_letter(micro_app, shop, {"eventName": "user_login", "userId": 1})
    nasty_raw = {"eventName": SCRIPT_NAME, "note": MARKUP, "context": {"testRun": MARKUP}}
    nasty_id, nasty = dead_letter(micro_app, shop, nasty_raw, error=f"IntegrityError: {MARKUP}")
    replayed_id, _ = dead_letter(micro_app, shop, {"eventName": "replayed_one"})
    with micro_app.app_context():
        mark_replayed([replayed_id])
    stranger, theirs = owner_with_app(micro_app, "stranger@example.com", "Theirs")
    their_id, _ = dead_letter(micro_app, theirs, {"eventName": "their_secret_event"})

    page = client.get(f"/apps/{shop.app.id}/dead-letters").get_data(as_text=True)
    rows = re.findall(r'<tr data-id="(\d+)">', page)
    assert rows == [str(nasty_id), str(plain_id)]  # pending only, newest first
    assert "2 waiting" in page and "Replay all 2" in page
    assert "user_login" in page and "their_secret_event" not in page
    assert "replayed_one" not in page
    # Markup from the event is shown as text: escaped in the HTML, never a tag.
    assert "<script>" not in page and "<img" not in page and "<b>bold" not in page
    shown = html.unescape(page)  # the text a browser shows
    assert SCRIPT_NAME in shown and "IntegrityError: <img src=x" in shown
    everything = client.get(f"/apps/{shop.app.id}/dead-letters?all=1").get_data(as_text=True)
    assert re.findall(r'<tr data-id="(\d+)">', everything) == [
        str(replayed_id),
        str(nasty_id),
        str(plain_id),
    ]

    opened = client.get(f"/apps/{shop.app.id}/dead-letters/{nasty_id}")
    assert opened.status_code == 200
    detail = opened.get_data(as_text=True)
    assert "<script>" not in detail and "<img" not in detail and "<b>bold" not in detail
    assert json.loads(text_of(detail, "message")) == nasty  # the whole message, as text
    assert text_of(detail, "error") == f"IntegrityError: {MARKUP}"
    assert nasty["task_id"] in detail and "waiting" in text_of(detail, "state")

    # Another user's dead letter is a 404 through either app, and so is the owner's page to them.
    assert client.get(f"/apps/{shop.app.id}/dead-letters/{their_id}").status_code == 404
    assert client.get(f"/apps/{theirs.app.id}/dead-letters/{their_id}").status_code == 404
    assert stranger.get(f"/apps/{shop.app.id}/dead-letters").status_code == 404
    assert stranger.get(f"/apps/{shop.app.id}/dead-letters/{plain_id}").status_code == 404
    assert stranger.get(f"/apps/{theirs.app.id}/dead-letters/{plain_id}").status_code == 404
    for bad in (0, HUGE):
        response = client.get(f"/apps/{shop.app.id}/dead-letters/{bad}")
        assert response.status_code == 404 and "404" in response.get_data(as_text=True)


def test_replay_and_discard_through_the_page_need_the_csrf_token(micro_app, owner):
    client, shop = owner
    ids = [dead_letter(micro_app, shop, {"eventName": "user_login", "userId": n}) for n in range(3)]
    (first, first_message), (second, _), (third, _) = ids
    base = f"/apps/{shop.app.id}/dead-letters"
    before = dead_letters_of(micro_app, shop.app.id)
    stranger, _ = owner_with_app(micro_app, "stranger@example.com", "Theirs")
    stranger_token = csrf_token(stranger, "/apps")
    for action in (f"{base}/replay", f"{base}/{first}/replay", f"{base}/{first}/discard"):
        for data in ({}, {"csrf_token": "forged"}):
            response = client.post(action, data=data)
            assert response.status_code == 400 and "<html" in response.get_data(as_text=True)
        # A real token of another session is no good either, and the app is not theirs.
        assert stranger.post(action, data={"csrf_token": stranger_token}).status_code == 404
    assert dead_letters_of(micro_app, shop.app.id) == before
    assert queued_events(micro_app) == []

    page = submit(client, base, {}, action=f"{base}/{first}/replay").get_data(as_text=True)
    assert f"Dead letter {first} queued again." in page
    assert [e["task_id"] for e in queued_events(micro_app)] == [first_message["task_id"]]
    state = dead_letters_of(micro_app, shop.app.id)
    assert state[first] is not None and state[second] is None and state[third] is None
    page = submit(client, base, {}, action=f"{base}/{first}/replay").get_data(as_text=True)
    assert "was already queued again" in page
    assert len(queued_events(micro_app)) == 1  # nothing queued twice

    page = submit(client, base, {}, action=f"{base}/{third}/discard").get_data(as_text=True)
    assert f"Dead letter {third} discarded." in page
    assert third not in dead_letters_of(micro_app, shop.app.id)
    assert client.get(f"{base}/{third}").status_code == 404
    token = csrf_token(client, base)
    assert client.post(f"{base}/{third}/discard", data={"csrf_token": token}).status_code == 404

    page = submit(client, base, {}, action=f"{base}/replay").get_data(as_text=True)
    assert "Queued again: 1 dead letter(s)." in page and "None waiting" in page
    assert len(queued_events(micro_app)) == 2
    assert all(
        replayed is not None for replayed in dead_letters_of(micro_app, shop.app.id).values()
    )
    page = submit(client, base, {}, action=f"{base}/replay").get_data(as_text=True)
    assert "No dead letter is waiting." in page


def test_the_api_inspects_and_discards_one_dead_letter(any_app):
    _, shop = owner_with_app(any_app, "owner@example.com", "Shop")
    other = create_other_app(any_app)
    dead_id, message = dead_letter(any_app, shop, {"eventName": "user_login", "userId": 7})
    their_id, _ = dead_letter(any_app, other, {"eventName": "user_login", "userId": 8})
    client = any_app.test_client()
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/dead-letters"

    inspected = client.get(f"{url}/{dead_id}", headers=auth).json
    created = inspected.pop("created_at")
    assert created and inspected == {
        "id": dead_id,
        "task_id": message["task_id"],
        "task_name": TASK_NAME,
        "app_id": shop.app.id,
        "error": "boom",
        "message": message,
        "replayed_at": None,
        "discarded_at": None,
        "attempts": 1,
        "state": "pending",
        "event_name": "user_login",
        "received_at": message["received_at"],
    }
    task = client.get(f"/api/tasks/{message['task_id']}", headers=auth).json
    assert task["state"] == "failed"

    for bad in (0, HUGE, their_id):
        assert_error(client.get(f"{url}/{bad}", headers=auth), 404, "not_found")
        assert_error(client.post(f"{url}/{bad}/discard", headers=auth), 404, "not_found")
    assert_error(client.get(f"{url}/abc", headers=auth), 404, "not_found")
    assert_error(client.get(f"{url}/{dead_id}/discard", headers=auth), 405)
    assert_error(client.post(f"{url}/{dead_id}", headers=auth), 405)
    assert_error(client.post(f"{url}/{dead_id}/discard"), 401, "unauthorized")
    assert dead_letters_of(any_app, other.app.id) == {their_id: None}

    discarded = client.post(f"{url}/{dead_id}/discard", headers=auth)
    assert discarded.status_code == 200
    assert discarded.json == {"discarded": dead_id, "task_id": message["task_id"]}
    assert dead_letters_of(any_app, shop.app.id) == {}
    assert_error(client.get(f"{url}/{dead_id}", headers=auth), 404, "not_found")
    assert_error(client.post(f"{url}/{dead_id}/discard", headers=auth), 404, "not_found")
    assert client.get(url, headers=auth).json == {"dead_letters": []}
    # Kept, marked discarded: its task reads `discarded` (it was `queued` while rows were deleted).
    task = client.get(f"/api/tasks/{message['task_id']}", headers=auth).json
    assert task == {"task_id": message["task_id"], "state": "discarded", "error": "boom"}
    assert dead_letters_of(any_app, other.app.id) == {their_id: None}


def create_other_app(flask_app: Flask) -> NewApp:
    """An app of nobody in particular."""
    with flask_app.app_context():
        new = create_app_record("Other")
        new.app.id  # noqa: B018
        db.session.remove()
    return new


def test_replay_from_the_page_is_stored_by_a_real_worker(full_app, celery_worker):
    client, shop = owner_with_app(full_app, "owner@example.com", "Shop")
    dead_id, message = dead_letter(full_app, shop, {"eventName": "user_login", "userId": 5})
    base = f"/apps/{shop.app.id}/dead-letters"
    page = submit(client, base, {}, action=f"{base}/{dead_id}/replay").get_data(as_text=True)
    assert f"Dead letter {dead_id} queued again." in page
    wait_until(
        lambda: count_events(full_app, task_id=message["task_id"]) == 1, 30, "the replayed event"
    )
    task = client.get(f"/api/tasks/{message['task_id']}?app_id={shop.app.id}").json
    assert task["state"] == "stored" and task["status"] == "valid"
    assert "None waiting" in client.get(base).get_data(as_text=True)
    tasks = client.get(f"/api/apps/{shop.app.id}/tasks").json["tasks"]
    assert [(t["task_id"], t["state"]) for t in tasks] == [(message["task_id"], "stored")]


def test_replay_with_the_broker_down_keeps_the_dead_letter_pending(full_app, make_app):
    client, shop = owner_with_app(full_app, "owner@example.com", "Shop")
    dead_id, _ = dead_letter(full_app, shop, {"eventName": "user_login", "userId": 5})
    broken = make_app("full", REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens there
    browser = broken.test_client()
    browser.set_cookie("session", client.get_cookie("session").value)  # the same login
    base = f"/apps/{shop.app.id}/dead-letters"
    for action in (f"{base}/{dead_id}/replay", f"{base}/replay"):
        page = submit(browser, base, {}, action=action).get_data(as_text=True)
        assert "The queue is unreachable: nothing was replayed." in page
        assert dead_letters_of(full_app, shop.app.id) == {dead_id: None}
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    response = browser.post(f"/api/apps/{shop.app.id}/dead-letters/replay", headers=auth)
    assert_error(response, 503, "unavailable")
    assert dead_letters_of(full_app, shop.app.id) == {dead_id: None}
