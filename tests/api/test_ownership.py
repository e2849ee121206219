"""Who may use the query API on an app: its read key or its owner's dashboard session.

One table lists every /api route that takes an app (in its path, or through the credentials:
tasks and test runs); a test fails when a new such route has no row. On every row another
user's session and another app's read key get the same 404 as an app that does not exist,
and the owner's data is unchanged; the owner's session reads every GET row, changes data on a
POST row only with its CSRF token, and names the app of a task or test run with ?app_id= when
it owns more than one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from app.extensions import db
from app.models import DeadLetter, Event, Job, TestRun, TrackedApp, TrackingPlan
from app.services.accounts.users import find_user
from app.services.apps import NewApp, create_app_record
from app.services.jobs import revalidation
from app.services.statistics.aggregates import count_new_events
from app.services.storage.dead_letters import record_dead_letter
from app.services.storage.events import store_events
from tests.dashboard.helpers import csrf_token, sign_up_and_verify
from tests.helpers import DEMO_PLAN, queued_message

HUGE = 10**20  # beyond any integer column


@dataclass(frozen=True)
class Route:
    """One API route: its method, its rule in app.url_map, and a sample path to call."""

    method: str
    rule: str
    sample: str
    body: dict[str, Any] | None = None

    @property
    def in_path(self) -> bool:
        return "{app_id}" in self.sample

    def path(self, world: World, app_id: int) -> str:
        return self.sample.format(
            app_id=app_id,
            task_id=world.task_id,
            run=world.run,
            job_id=world.job_id,
            dead_letter_id=world.dead_letter_id,
        )


ROUTES = [
    Route("GET", "/api/apps/<int:app_id>/events", "/api/apps/{app_id}/events"),
    Route("GET", "/api/tasks/<task_id>", "/api/tasks/{task_id}"),
    Route("GET", "/api/test-runs/<path:test_run>", "/api/test-runs/{run}"),
    Route("GET", "/api/test-runs", "/api/test-runs?name={run}"),
    Route("POST", "/api/test-runs/close", "/api/test-runs/close?name={run}"),
    Route("GET", "/api/apps/<int:app_id>/dead-letters", "/api/apps/{app_id}/dead-letters"),
    Route(
        "POST",
        "/api/apps/<int:app_id>/dead-letters/replay",
        "/api/apps/{app_id}/dead-letters/replay",
        {},
    ),
    Route("GET", "/api/apps/<int:app_id>/plan", "/api/apps/{app_id}/plan"),
    Route("GET", "/api/apps/<int:app_id>/plan/versions", "/api/apps/{app_id}/plan/versions"),
    Route(
        "GET",
        "/api/apps/<int:app_id>/plan/versions/<int:version>",
        "/api/apps/{app_id}/plan/versions/2",
    ),
    Route(
        "POST",
        "/api/apps/<int:app_id>/plan",
        "/api/apps/{app_id}/plan?publish=1",
        {"events": {}, "unplanned_events": "block"},
    ),
    Route(
        "POST",
        "/api/apps/<int:app_id>/plan/versions/<int:version>/publish",
        "/api/apps/{app_id}/plan/versions/2/publish",
    ),
    Route("POST", "/api/apps/<int:app_id>/plan/infer", "/api/apps/{app_id}/plan/infer"),
    Route(
        "POST", "/api/apps/<int:app_id>/plan/lint", "/api/apps/{app_id}/plan/lint", {"events": {}}
    ),
    Route(
        "POST", "/api/apps/<int:app_id>/plan/diff", "/api/apps/{app_id}/plan/diff", {"events": {}}
    ),
    Route(
        "GET",
        "/api/apps/<int:app_id>/plan/code",
        "/api/apps/{app_id}/plan/code?language=typescript&version=2",
    ),
    Route(
        "POST",
        "/api/apps/<int:app_id>/plan/code",
        "/api/apps/{app_id}/plan/code?language=typescript",
        {"events": {"a": {}}},
    ),
    Route("GET", "/api/apps/<int:app_id>/test-runs", "/api/apps/{app_id}/test-runs"),
    Route("GET", "/api/apps/<int:app_id>/overview", "/api/apps/{app_id}/overview?window=1h"),
    Route("GET", "/api/apps/<int:app_id>/plan/observed", "/api/apps/{app_id}/plan/observed"),
    Route(
        "GET",
        "/api/apps/<int:app_id>/regressions",
        "/api/apps/{app_id}/regressions?base=1.0&head=1.0",
    ),
    Route("GET", "/api/apps/<int:app_id>/jobs", "/api/apps/{app_id}/jobs"),
    Route(
        "POST",
        "/api/apps/<int:app_id>/jobs",
        "/api/apps/{app_id}/jobs",
        {"kind": "revalidate", "plan_version": 2},
    ),
    Route("GET", "/api/apps/<int:app_id>/jobs/<int:job_id>", "/api/apps/{app_id}/jobs/{job_id}"),
    Route(
        "POST",
        "/api/apps/<int:app_id>/jobs/<int:job_id>/cancel",
        "/api/apps/{app_id}/jobs/{job_id}/cancel",
    ),
    Route(
        "GET",
        "/api/apps/<int:app_id>/dead-letters/<int:dead_letter_id>",
        "/api/apps/{app_id}/dead-letters/{dead_letter_id}",
    ),
    Route(
        "POST",
        "/api/apps/<int:app_id>/dead-letters/<int:dead_letter_id>/discard",
        "/api/apps/{app_id}/dead-letters/{dead_letter_id}/discard",
    ),
    Route("GET", "/api/apps/<int:app_id>/tasks", "/api/apps/{app_id}/tasks"),
    # A window of the past: the same answer whenever it is asked (the default ends now).
    Route(
        "GET",
        "/api/apps/<int:app_id>/tasks/stats",
        "/api/apps/{app_id}/tasks/stats?since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z",
    ),
]
# Routes that make a run of the caller's own app: another app's key or session makes one of
# theirs rather than a 404 (test_expectations_are_set_on_the_callers_own_app).
OWN_RUN_ROUTES = [
    Route("PUT", "/api/test-runs/expectations", "/api/test-runs/expectations?name={run}", {}),
]
# The caller's own app, whichever it is (test_who_am_i_answers_the_callers_own_app).
WHO_AM_I = Route("GET", "/api/app", "/api/app")
# POSTs that only compute an answer (plan checks, code of a draft): they need the token, and
# change nothing.
READ_ONLY_POSTS = {
    "/api/apps/<int:app_id>/plan/lint",
    "/api/apps/<int:app_id>/plan/diff",
    "/api/apps/<int:app_id>/plan/code",
}
GETS = [route for route in ROUTES if route.method == "GET"]
POSTS = [route for route in ROUTES if route.method == "POST"]


def route_id(route: Route) -> str:
    return f"{route.method} {route.rule}"


@dataclass
class World:
    """The owner's app with data on every route, and a stranger with an app of their own."""

    owner: FlaskClient
    app_id: int
    read_key: str
    task_id: str
    run: str
    job_id: int
    stranger: FlaskClient
    other_id: int
    other_read_key: str
    dead_letter_id: int


def owned_by(flask_app: Flask, email: str, name: str) -> NewApp:
    """A new app of the user with this e-mail address."""
    with flask_app.app_context():
        new = create_app_record(name, owner_id=find_user(email).id)
        new.app.id  # load before the session closes  # noqa: B018
        db.session.remove()
        return new


def signed_in_with_app(flask_app: Flask, email: str, name: str) -> tuple[FlaskClient, int, str]:
    """A verified, logged-in user's client with one app; its id and read key."""
    client = flask_app.test_client()
    sign_up_and_verify(client, flask_app, email)
    new = owned_by(flask_app, email, name)
    return client, new.app.id, new.read_key


def call(
    client: FlaskClient,
    route: Route,
    path: str,
    key: str | None = None,
    token: str | None = None,
):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if token:
        headers["X-CSRFToken"] = token
    return client.open(path, method=route.method, json=route.body, headers=headers)


def snapshot(flask_app: Flask, app_id: int) -> dict[str, Any]:
    """Everything the routes could change of an app."""
    with flask_app.app_context():
        app = db.session.get(TrackedApp, app_id)
        state = {
            "app": (app.name, app.write_key, app.read_key_hash, app.plan_version, app.owner_id),
            "plans": db.session.execute(
                select(TrackingPlan.version, TrackingPlan.status, TrackingPlan.published_at)
                .where(TrackingPlan.app_id == app_id)
                .order_by(TrackingPlan.version)
            ).all(),
            "events": db.session.scalar(
                select(func.count()).select_from(Event).where(Event.app_id == app_id)
            ),
            "dead_letters": db.session.execute(
                select(DeadLetter.id, DeadLetter.replayed_at, DeadLetter.discarded_at).where(
                    DeadLetter.app_id == app_id
                )
            ).all(),
            "jobs": db.session.execute(
                select(Job.id, Job.state, Job.cancel_requested).where(Job.app_id == app_id)
            ).all(),
            "test_runs": db.session.execute(
                select(TestRun.name, TestRun.expectations, TestRun.closed_at)
                .where(TestRun.app_id == app_id)
                .order_by(TestRun.name)
            ).all(),
        }
        db.session.remove()
        return state


@pytest.fixture
def world(micro_app: Flask) -> World:
    owner, app_id, read_key = signed_in_with_app(micro_app, "owner@example.com", "Shop")
    stranger, other_id, other_key = signed_in_with_app(micro_app, "other@example.com", "Other")
    auth = {"Authorization": f"Bearer {read_key}"}
    plan_url = f"/api/apps/{app_id}/plan"
    assert owner.post(plan_url, json=DEMO_PLAN, query_string={"publish": 1}, headers=auth).json == {
        "version": 1,
        "status": "published",
    }
    assert owner.post(plan_url, json=DEMO_PLAN, headers=auth).json["version"] == 2  # a draft
    with micro_app.app_context():
        write_key = db.session.get(TrackedApp, app_id).write_key
    stored, dead = (
        queued_message(
            micro_app,
            write_key,
            {
                "eventName": "user_login",
                "userId": n,
                "context": {"testRun": "run-1", "app": {"version": "1.0"}},
            },
        )
        for n in (1, 2)
    )
    unplanned = queued_message(micro_app, write_key, {"eventName": "search", "query": "hats"})
    with micro_app.app_context():
        store_events([stored, unplanned])  # the unplanned one gives infer something to add
        count_new_events()  # the statistics the regression report reads
        record_dead_letter(dead["task_id"], "app.tasks.events.process_events_async", dead, "boom")
        dead_letter_id = db.session.scalar(select(DeadLetter.id))
        job_id = revalidation.create(db.session.get(TrackedApp, app_id), {"plan_version": 2}).id
        db.session.remove()
    return World(
        owner,
        app_id,
        read_key,
        stored["task_id"],
        "run-1",
        job_id,
        stranger,
        other_id,
        other_key,
        dead_letter_id,
    )


def bearer(world: World) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.read_key}"}


def assert_not_found(response) -> dict[str, Any]:
    assert response.status_code == 404, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == "not_found" and body["message"], body
    return body


def with_app_id(path: str, app_id: int | str) -> str:
    """`path` naming the app with ?app_id= (or &app_id= after a query of its own)."""
    return f"{path}{'&' if '?' in path else '?'}app_id={app_id}"


# --- the table ---------------------------------------------------------------------------------


def test_the_table_covers_every_api_route_that_takes_an_app(micro_app):
    served = {
        (method, rule.rule)
        for rule in micro_app.url_map.iter_rules()
        if rule.rule.startswith("/api/")
        and ("app_id" in rule.arguments or rule.endpoint.startswith("api."))
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert served, "no API route found"
    table = {(route.method, route.rule) for route in [*ROUTES, *OWN_RUN_ROUTES, WHO_AM_I]}
    missing = served - table
    assert not missing, f"API routes without a row in ROUTES: {sorted(missing)}"
    assert table <= served, "a row for no route"


@pytest.mark.parametrize("route", ROUTES + OWN_RUN_ROUTES, ids=route_id)
def test_each_sample_path_reaches_its_rule(micro_app, route):
    adapter = micro_app.url_map.bind("localhost")
    path = route.sample.split("?")[0].format(
        app_id=1, task_id="t", run="run-1", job_id=1, dead_letter_id=1
    )
    rule, _ = adapter.match(path, method=route.method, return_rule=True)
    assert rule.rule == route.rule


# --- other users and other apps ----------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_another_users_session_gets_404(micro_app, world, route):
    before = snapshot(micro_app, world.app_id)
    path = route.path(world, world.app_id)
    if not route.in_path:
        path = with_app_id(path, world.app_id)  # naming the owner's app does not make it theirs
    token = csrf_token(world.stranger, "/apps")  # a valid token of the stranger's session
    assert_not_found(call(world.stranger, route, path, token=token))
    if not route.in_path:  # their only app is theirs to use, but has no such task or run
        assert_not_found(call(world.stranger, route, route.path(world, world.app_id), token=token))
    assert snapshot(micro_app, world.app_id) == before


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
def test_another_apps_read_key_gets_404(micro_app, world, route):
    before = snapshot(micro_app, world.app_id)
    response = call(world.stranger, route, route.path(world, world.app_id), world.other_read_key)
    assert_not_found(response)
    assert snapshot(micro_app, world.app_id) == before


@pytest.mark.parametrize("route", [r for r in ROUTES if r.in_path], ids=route_id)
def test_someone_elses_app_looks_like_no_app(micro_app, world, route):
    """The same answer, but for the id, as for an app that does not exist."""
    token = csrf_token(world.stranger, "/apps")
    missing = world.app_id + world.other_id + 100
    for key in (None, world.other_read_key):
        theirs = call(world.stranger, route, route.path(world, world.app_id), key, token)
        nobody = call(world.stranger, route, route.path(world, missing), key, token)
        expected = assert_not_found(nobody)["message"].replace(str(missing), str(world.app_id))
        assert assert_not_found(theirs)["message"] == expected
    huge = call(world.stranger, route, route.path(world, HUGE), None, token)
    assert_not_found(huge)


def test_an_app_of_nobody_is_404_for_a_session(micro_app, world):
    with micro_app.app_context():
        db.session.execute(
            update(TrackedApp).where(TrackedApp.id == world.app_id).values(owner_id=None)
        )
        db.session.commit()
    assert_not_found(world.owner.get(f"/api/apps/{world.app_id}/events"))
    response = world.owner.get(f"/api/apps/{world.app_id}/events", headers=bearer(world))
    assert response.status_code == 200  # its read key still works


# --- the owner ---------------------------------------------------------------------------------


@pytest.mark.parametrize("route", GETS, ids=route_id)
def test_the_owner_reads_every_get_route_with_the_session_or_the_read_key(world, route):
    path = route.path(world, world.app_id)
    by_session = call(world.owner, route, path)
    assert by_session.status_code == 200, by_session.get_data(as_text=True)
    by_key = world.stranger.get(path, headers=bearer(world))  # no session of the owner
    assert by_key.status_code == 200, by_key.get_data(as_text=True)
    assert by_session.json == by_key.json
    if not route.in_path:  # naming the app explicitly gives the same answer
        named = call(world.owner, route, with_app_id(path, world.app_id))
        assert named.json == by_session.json


@pytest.mark.parametrize("route", POSTS, ids=route_id)
def test_the_owners_session_changes_data_only_with_its_csrf_token(micro_app, world, route):
    path = route.path(world, world.app_id)
    before = snapshot(micro_app, world.app_id)
    for token in (None, "forged"):
        response = call(world.owner, route, path, token=token)
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.json["code"] == "csrf_failed" and response.json["message"]
    assert snapshot(micro_app, world.app_id) == before
    response = call(world.owner, route, path, token=csrf_token(world.owner, "/apps"))
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    changed = snapshot(micro_app, world.app_id) != before
    assert changed != (route.rule in READ_ONLY_POSTS)


@pytest.mark.parametrize("route", [r for r in GETS if not r.in_path], ids=route_id)
def test_a_session_with_several_apps_names_the_app(micro_app, world, route):
    owned_by(micro_app, "owner@example.com", "Second")
    path = route.path(world, world.app_id)
    response = call(world.owner, route, path)
    assert response.status_code == 400 and response.json["code"] == "invalid_parameter"
    assert call(world.owner, route, with_app_id(path, world.app_id)).status_code == 200
    for bad in ("abc", "", "0", "-1", str(HUGE)):
        response = call(world.owner, route, with_app_id(path, bad))
        assert response.status_code == 400 and response.json["code"] == "invalid_parameter"


def test_expectations_are_set_on_the_callers_own_app(micro_app, world):
    (route,) = OWN_RUN_ROUTES
    before = snapshot(micro_app, world.app_id)
    path = route.path(world, world.app_id)
    response = call(world.stranger, route, path, world.other_read_key)
    assert response.status_code == 200, response.get_data(as_text=True)
    token = csrf_token(world.stranger, "/apps")
    assert_not_found(call(world.stranger, route, with_app_id(path, world.app_id), token=token))
    assert snapshot(micro_app, world.app_id) == before  # the owner's app is untouched
    with micro_app.app_context():
        owners = db.session.scalars(select(TestRun.app_id).where(TestRun.name == world.run))
        assert list(owners) == [world.other_id]
        db.session.remove()
    # The owner's session needs its CSRF token too.
    response = call(world.owner, route, path)
    assert response.status_code == 400 and response.json["code"] == "csrf_failed"
    response = call(world.owner, route, path, token=csrf_token(world.owner, "/apps"))
    assert response.status_code == 200 and snapshot(micro_app, world.app_id) != before


def test_who_am_i_answers_the_callers_own_app(micro_app, world):
    response = call(world.stranger, WHO_AM_I, "/api/app", world.other_read_key)
    assert response.status_code == 200 and response.json["id"] == world.other_id
    token = csrf_token(world.stranger, "/apps")
    path = with_app_id("/api/app", world.app_id)
    assert_not_found(call(world.stranger, WHO_AM_I, path, token=token))
    response = call(world.owner, WHO_AM_I, path)
    assert response.status_code == 200 and response.json["id"] == world.app_id


def test_without_a_session_or_a_key_the_api_is_401(micro_app, world):
    anonymous = micro_app.test_client()
    for route in [*ROUTES, *OWN_RUN_ROUTES, WHO_AM_I]:
        response = call(anonymous, route, route.path(world, world.app_id))
        assert response.status_code == 401 and response.json["code"] == "unauthorized", route
