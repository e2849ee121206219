"""A NUL in the URL is a JSON 400 `invalid_parameter`, never a 500: PostgreSQL text cannot hold
U+0000, so a NUL reaching a filter (`?status=%00`), a comparison (`?base=%00`) or a path
parameter (`/api/test-runs/a%00b`) was a driver error. Every GET route is swept, with a NUL in
each query parameter any route reads and in each string in its path, signed in by session and by
read key so the requests reach the handlers that query the database."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from app.extensions import db
from app.models import TrackedApp
from app.services.storage.events import FILTERS
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app

NUL = "a\x00b"
# Every query parameter a GET route reads (grep -rn "request.args" app/).
QUERY_NAMES = (
    *FILTERS,
    "base",
    "head",
    "window",
    "after",
    "cursor",
    "limit",
    "since",
    "until",
    "state",
    "all",
    "wait",
    "app_id",
    "kind",
    "filename",
    "name",
    "email",
)


@pytest.fixture
def owner(full_app: Flask):
    """(a signed-in client, its app id, an app with a read key)."""
    client = full_app.test_client()
    sign_up_and_verify(client, full_app, "nul@example.com")
    submit(client, "/apps", {"name": "Shop"})
    with full_app.app_context():
        app_id = db.session.scalars(select(TrackedApp).where(TrackedApp.name == "Shop")).one().id
    return client, app_id, add_app(full_app, "keyed", DEMO_PLAN)


def _get_urls(flask_app: Flask, app_id: int) -> list[tuple[Rule, dict, list[str]]]:
    """(rule, path values with ids naming `app_id` and strings "x", its string arguments) for
    every GET route."""
    urls = []
    for rule in flask_app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        ints = {a for a, c in rule._converters.items() if type(c).__name__ == "IntegerConverter"}
        values = {a: "x" for a in rule.arguments}
        values.update({a: app_id if a == "app_id" else 1 for a in ints})
        urls.append((rule, values, [a for a in rule.arguments if a not in ints]))
    return urls


def _is_nul_error(response, name: str) -> bool:
    body = response.get_json(silent=True) or {}
    return (
        response.status_code == 400
        and body.get("code") == "invalid_parameter"
        and "NUL" in body.get("message", "")
        and name in body["message"]
    )


def test_a_nul_in_any_query_parameter_is_400(full_app, owner):
    client, session_app, keyed = owner
    by_key = {"Authorization": f"Bearer {keyed.read_key}"}
    failed = []
    for headers, app_id in (({}, session_app), (by_key, keyed.app.id)):
        routes = _get_urls(full_app, app_id)
        assert len(routes) > 30  # every GET route is tried
        for rule, values, _ in routes:
            url = rule.build(values, append_unknown=False)[1]
            for name in QUERY_NAMES:
                response = client.get(url, query_string={name: NUL}, headers=headers)
                if not _is_nul_error(response, repr(name)):
                    failed.append((url, name, response.status_code))
    assert not failed, ([f for f in failed if f[-1] == 500], len(failed))


def test_a_nul_in_any_path_string_is_400(full_app, owner):
    client, session_app, keyed = owner
    by_key = {"Authorization": f"Bearer {keyed.read_key}"}
    failed = []
    tried = 0
    for headers, app_id in (({}, session_app), (by_key, keyed.app.id)):
        for rule, values, strings in _get_urls(full_app, app_id):
            for name in strings:
                # Built with a marker, then the NUL put in by hand: an `any(...)` converter
                # would refuse to build a value not among its choices.
                try:
                    url = rule.build({**values, name: "marker"}, append_unknown=False)[1]
                except ValueError:
                    continue
                url = url.replace("marker", "a%00b")
                tried += 1
                response = client.get(url, headers=headers)
                if not _is_nul_error(response, "path"):
                    failed.append((url, response.status_code))
    assert tried > 5
    assert not failed, ([f for f in failed if f[-1] == 500], len(failed))


def test_the_filters_reported_to_fail_are_400_in_both_profiles(any_app):
    keyed = add_app(any_app, "keyed", DEMO_PLAN)
    client = any_app.test_client()
    headers = {"Authorization": f"Bearer {keyed.read_key}"}
    for url in (
        f"/api/apps/{keyed.app.id}/events?status=%00",
        f"/api/apps/{keyed.app.id}/regressions?base=%00&head=1",
        "/api/test-runs/a%00b",
    ):
        response = client.get(url, headers=headers)
        assert response.status_code == 400, (url, response.get_data(as_text=True)[:300])
        assert response.json["code"] == "invalid_parameter"


@pytest.mark.parametrize("key,status", [("a%00b", 400), ("%ED%A0%80", 401), ("%FF%00", 400)])
def test_odd_characters_in_the_write_key_path_are_4xx(any_app, key, status):
    """A lone surrogate's UTF-8 bytes are not UTF-8: the path decodes them as U+FFFD, a key no
    app has."""
    response = any_app.test_client().post(f"/api/logs/{key}", json={"eventName": "x"})
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.json["code"] in ("invalid_parameter", "unknown_app_key")
