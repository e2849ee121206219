"""App pages: a user creates an app and sees its keys; another user gets 404 on every route of
it (pages and form posts), and anonymous visitors are sent to the login page."""

from __future__ import annotations

import re

import pytest

from tests.dashboard.helpers import csrf_token, sign_up_and_verify, submit

# Every route that names an app: (method, path template); {run}, {version}, {dead}, {job} and
# {webhook} are filled with run-1, 1, 1, 1 and 1, which exist for the owner's app in no test (the
# 404 must come from ownership; test_webhooks_page.py tries a stranger on a real webhook too).
APP_ROUTES = [
    ("GET", "/apps/{id}"),
    ("GET", "/apps/{id}/overview"),
    ("POST", "/apps/{id}/overview/recount"),
    ("GET", "/apps/{id}/live"),
    ("GET", "/apps/{id}/events.json"),
    ("GET", "/apps/{id}/test-runs"),
    ("GET", "/apps/{id}/test-runs/{run}"),
    ("GET", "/apps/{id}/test-runs/report"),
    ("GET", "/apps/{id}/plan"),
    ("POST", "/apps/{id}/plan"),
    ("POST", "/apps/{id}/plan/{version}/publish"),
    ("GET", "/apps/{id}/plan/event"),
    ("POST", "/apps/{id}/plan/event"),
    ("GET", "/apps/{id}/plan/infer"),
    ("POST", "/apps/{id}/plan/infer"),
    ("GET", "/apps/{id}/plan/code.zip"),
    ("POST", "/apps/{id}/plan/{version}/impact"),
    ("GET", "/apps/{id}/plan/impact/{job}"),
    ("POST", "/apps/{id}/rotate-write-key"),
    ("POST", "/apps/{id}/rotate-read-key"),
    ("POST", "/apps/{id}/rename"),
    ("POST", "/apps/{id}/alerts"),
    ("POST", "/apps/{id}/pii"),
    ("POST", "/apps/{id}/webhooks"),
    ("GET", "/apps/{id}/webhooks/log"),
    ("POST", "/apps/{id}/webhooks/{webhook}/remove"),
    ("POST", "/apps/{id}/webhooks/{webhook}/secret"),
    ("POST", "/apps/{id}/webhooks/{webhook}/test"),
    ("GET", "/apps/{id}/dead-letters"),
    ("GET", "/apps/{id}/dead-letters/{dead}"),
    ("POST", "/apps/{id}/dead-letters/replay"),
    ("POST", "/apps/{id}/dead-letters/{dead}/replay"),
    ("POST", "/apps/{id}/dead-letters/{dead}/discard"),
]


def _create(client, name: str) -> tuple[int, str]:
    page = submit(client, "/apps", {"name": name}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    write_key = re.search(r'<code class="key" id="write-key">([0-9a-f]+)</code>', page).group(1)
    return app_id, write_key


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    return client


@pytest.fixture
def stranger(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "stranger@example.com")
    return client


def test_a_new_app_shows_its_keys_and_a_snippet_that_works(micro_app, owner):
    page = submit(owner, "/apps", {"name": "Shop iOS"}).get_data(as_text=True)
    assert "Read key (shown only now): rk_" in page
    app_id, write_key = _create(owner, "Shop Android")
    show = owner.get(f"/apps/{app_id}").get_data(as_text=True)
    assert f"/api/logs/{write_key}" in show  # the curl snippet
    listing = owner.get("/apps").get_data(as_text=True)
    assert "Shop iOS" in listing and "Shop Android" in listing
    answer = owner.post(f"/api/logs/{write_key}", json={"eventName": "user_login"})
    assert answer.status_code == 202 and answer.json["status"] == "unplanned"


def test_rotating_the_write_key_retires_the_old_one(micro_app, owner):
    app_id, old_key = _create(owner, "Shop")
    submit(owner, f"/apps/{app_id}", {}, action=f"/apps/{app_id}/rotate-write-key")
    page = owner.get(f"/apps/{app_id}").get_data(as_text=True)
    new_key = re.search(r'id="write-key">([0-9a-f]+)<', page).group(1)
    assert new_key != old_key
    assert owner.post(f"/api/logs/{old_key}", json={"eventName": "e"}).status_code == 401
    assert owner.post(f"/api/logs/{new_key}", json={"eventName": "e"}).status_code == 202


def _url(path: str, app_id: int) -> str:
    return path.format(id=app_id, run="run-1", version=1, dead=1, job=1, webhook=1)


def test_the_table_covers_every_route_of_an_app(micro_app):
    """A new page for an app needs its row above, or this fails."""
    names = {
        "<int:app_id>": "{id}",
        "<path:test_run>": "{run}",
        "<int:version>": "{version}",
        "<int:dead_letter_id>": "{dead}",
        "<int:job_id>": "{job}",
        "<int:webhook_id>": "{webhook}",
    }
    routes = set()
    for rule in micro_app.url_map.iter_rules():
        if "<int:app_id>" in rule.rule and not rule.rule.startswith("/api/"):
            path = re.sub(r"<[^>]+>", lambda m: names[m[0]], rule.rule)
            routes |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(APP_ROUTES)


@pytest.mark.parametrize(("method", "path"), APP_ROUTES)
def test_another_users_app_is_a_404_on_every_route(micro_app, owner, stranger, method, path):
    app_id, _ = _create(owner, "Private")

    def call(url: str):
        if method == "GET":
            return stranger.get(url)
        token = csrf_token(stranger, "/apps")
        return stranger.post(url, data={"csrf_token": token, "name": "taken over"})

    response = call(_url(path, app_id))
    assert response.status_code == 404
    assert "404" in response.get_data(as_text=True)  # a page, not a JSON error
    # ... the owner's app is untouched, and an app that does not exist looks the same.
    assert "Private" in owner.get(f"/apps/{app_id}").get_data(as_text=True)
    assert call(_url(path, app_id + 1000)).status_code == 404


def test_the_listing_shows_only_ones_own_apps(micro_app, owner, stranger):
    _create(owner, "Owner's app")
    assert "Owner&#39;s app" not in stranger.get("/apps").get_data(as_text=True)
    assert "No apps yet" in stranger.get("/apps").get_data(as_text=True)


@pytest.mark.parametrize(("method", "path"), [("GET", "/apps"), *APP_ROUTES])
def test_anonymous_visitors_are_sent_to_log_in(micro_app, method, path):
    client = micro_app.test_client()
    url = _url(path, 1)
    if method == "GET":
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    else:
        # Refused either way: no session, and no CSRF token without one.
        assert client.post(url).status_code in (302, 400)


@pytest.mark.parametrize("name", ["\x00x", "a\x1b[31mb", "line\nbreak", "x" * 256])
def test_a_name_with_control_characters_or_too_long_is_refused(micro_app, owner, name):
    page = submit(owner, "/apps", {"name": name}).get_data(as_text=True)
    complaint = "control characters" if len(name) < 256 else "1 to 255 characters"
    assert "The app was not created: An app name" in page and complaint in page
    assert "No apps yet" in owner.get("/apps").get_data(as_text=True)

    app_id, _ = _create(owner, "Shop")
    renamed = submit(owner, f"/apps/{app_id}", {"name": name}, f"/apps/{app_id}/rename")
    assert "The app was not renamed: An app name" in renamed.get_data(as_text=True)
    assert complaint in renamed.get_data(as_text=True)
    assert "<h1>Shop" in owner.get(f"/apps/{app_id}").get_data(as_text=True)
