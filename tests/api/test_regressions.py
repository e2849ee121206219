"""Release regression reports (`GET /api/apps/<id>/regressions?base=&head=`), read from the
statistics: events are posted over HTTP for two app versions, stored as a worker stores them,
and counted; the report names exactly what changed.

A plan published between two releases: the report compares the releases on the verdicts of one
plan version, or says that it cannot.

Bad inputs tried: no base or head, blank ones, a version with no events; another app's read key
and no credentials (the table in test_ownership.py tries every route for that)."""

from __future__ import annotations

import copy
import html
import re

from sqlalchemy import select

from app.extensions import db
from app.models import TrackedApp
from app.services.plans.versions import save_plan
from app.services.statistics.aggregates import count_new_events
from app.services.storage.events import store_events
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN, assert_documented, assert_error, queued_events
from tests.support.profiles import add_app


def _post(client, key: str, version: str, event: dict, times: int) -> None:
    for n in range(times):
        body = {**event, "n": n, "context": {"app": {"version": version}}}
        assert client.post(f"/api/logs/{key}", json=body).status_code == 202


def _store_and_count(flask_app) -> None:
    with flask_app.app_context():
        store_events(queued_events(flask_app))
        for _ in range(2):  # PostgreSQL counts one run behind
            count_new_events()


def _changes(report: dict) -> dict[str, list[tuple[str, str, str]]]:
    return {
        kind: [(c["event_name"], c["rule"], c["path"]) for c in report[kind]]
        for kind in ("new", "gone", "more_frequent")
    }


def test_the_newer_build_breaks_one_rule_and_fixes_another(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    purchase = {"eventName": "purchase", "price": 5, "currency": "EUR"}
    # 2.3.0 sends lowercase currencies; 2.3.1 fixed that but sends negative prices.
    _post(client, key, "2.3.0", {**purchase, "currency": "usd"}, 6)
    _post(client, key, "2.3.0", {"eventName": "user_login", "userId": 1}, 4)
    _post(client, key, "2.3.1", {**purchase, "price": -1}, 5)
    _post(client, key, "2.3.1", {"eventName": "user_login", "userId": 1}, 4)
    _store_and_count(any_app)

    answer = client.get(
        f"/api/apps/{shop.app.id}/regressions?base=2.3.0&head=2.3.1",
        headers={"Authorization": f"Bearer {shop.read_key}"},
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)
    report = answer.json
    assert _changes(report) == {
        "new": [("purchase", "minimum", "/properties/price")],
        "gone": [("purchase", "pattern", "/properties/currency")],
        "more_frequent": [],
    }
    assert report["regressed"] is True
    assert report["events"] == {"base": 10, "head": 9}
    assert report["new"][0]["head"] == {"count": 5, "events": 5, "rate": 1.0}

    # Read the other way round, the currency rule is the new one.
    back = client.get(
        f"/api/apps/{shop.app.id}/regressions?base=2.3.1&head=2.3.0",
        headers={"Authorization": f"Bearer {shop.read_key}"},
    ).json
    assert _changes(back)["new"] == [("purchase", "pattern", "/properties/currency")]


def test_a_rule_broken_more_often_is_more_frequent_and_a_silent_event_says_nothing(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    login = {"eventName": "user_login", "userId": 1}
    _post(client, key, "1.0", {**login, "userId": "x"}, 1)  # 1 in 10 invalid
    _post(client, key, "1.0", login, 9)
    _post(client, key, "1.0", {"eventName": "screen_view"}, 2)  # required screen_name missing
    _post(client, key, "1.1", {**login, "userId": "x"}, 5)  # 5 in 10: five times as often
    _post(client, key, "1.1", login, 5)
    _store_and_count(any_app)  # 1.1 sent no screen_view: its rule is neither gone nor new

    report = client.get(
        f"/api/apps/{shop.app.id}/regressions?base=1.0&head=1.1",
        headers={"Authorization": f"Bearer {shop.read_key}"},
    ).json
    assert _changes(report) == {
        "new": [],
        "gone": [],
        "more_frequent": [("user_login", "type", "/properties/userId")],
    }


def test_versions_must_be_named_and_known(any_app):
    shop = add_app(any_app, plan=DEMO_PLAN)
    client = any_app.test_client()
    _post(client, shop.app.write_key, "1.0", {"eventName": "user_login", "userId": 1}, 1)
    _store_and_count(any_app)
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/regressions"
    for query in ("", "?base=1.0", "?head=1.0", "?base=%20&head=1.0"):
        assert_error(client.get(url + query, headers=auth), 400, "invalid_parameter")
    assert_error(client.get(url + "?base=1.0&head=9.9", headers=auth), 404, "not_found")


def _publish_stricter_plan(flask_app, app_id: int) -> None:
    """Plan v2: a purchase must list its items (v1 did not ask)."""
    stricter = copy.deepcopy(DEMO_PLAN)
    stricter["events"]["purchase"]["required"] = ["price", "currency", "items"]
    with flask_app.app_context():
        save_plan(db.session.get(TrackedApp, app_id), stricter, publish=True)


def test_a_plan_change_between_releases_is_not_blamed_on_the_release(any_app):
    """Release 1.0 judged by plan v1; v2 (stricter) published; release 1.1 judged by v2. Both
    builds send the same purchase, without items."""
    shop = add_app(any_app, plan=DEMO_PLAN)
    client, key = any_app.test_client(), shop.app.write_key
    auth = {"Authorization": f"Bearer {shop.read_key}"}
    url = f"/api/apps/{shop.app.id}/regressions?base=1.0&head=1.1"
    purchase = {"eventName": "purchase", "price": 5, "currency": "EUR"}
    _post(client, key, "1.0", purchase, 4)
    _store_and_count(any_app)
    _publish_stricter_plan(any_app, shop.app.id)
    _post(client, key, "1.1", purchase, 4)
    _store_and_count(any_app)

    # No plan judged both: the report says so and gives no verdict on 1.1.
    report = client.get(url, headers=auth).json
    assert report["plan_versions"] == {"base": [1], "head": [2]}
    assert report["basis"]["kind"] == "different_plan_versions"
    assert report["basis"]["comparable"] is False
    assert "1.0 by v1, 1.1 by v2" in report["basis"]["text"]
    assert report["regressed"] is None
    assert _changes(report)["new"] == [("purchase", "required", "/properties/items")]
    assert_documented(any_app, "RegressionReport", report)  # null is documented

    # 1.0 keeps sending after v2: the builds are compared on v2's verdicts only, and 1.1 does
    # exactly what 1.0 does under v2.
    _post(client, key, "1.0", {**purchase, "later": True}, 2)  # not duplicates of the first
    _store_and_count(any_app)
    report = client.get(url, headers=auth).json
    assert report["plan_versions"] == {"base": [1, 2], "head": [2]}
    assert report["basis"] == {
        "kind": "same_plan_version",
        "plan_version": 2,
        "comparable": True,
        "text": "Events of 1.0 and 1.1 judged by plan version 2; "
        "events judged by other plan versions are left out.",
    }
    assert report["events"] == {"base": 2, "head": 4}
    assert _changes(report) == {"new": [], "gone": [], "more_frequent": []}
    assert report["regressed"] is False


def test_the_overview_says_which_basis_the_comparison_used(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "basis@example.com")
    submit(client, "/apps", {"name": "Shop"})
    with micro_app.app_context():
        app = db.session.scalars(select(TrackedApp).where(TrackedApp.name == "Shop")).one()
        save_plan(app, DEMO_PLAN, publish=True)
        app_id, key = app.id, app.write_key
    purchase = {"eventName": "purchase", "price": 5, "currency": "EUR"}
    _post(client, key, "1.0", purchase, 2)
    _store_and_count(micro_app)
    _publish_stricter_plan(micro_app, app_id)
    _post(client, key, "1.1", purchase, 2)
    _store_and_count(micro_app)
    page = client.get(f"/apps/{app_id}/overview?base=1.0&head=1.1").get_data(as_text=True)
    assert "1.1 and 1.0 were judged by different plans" in page
    assert "regressed against" not in page
    basis = re.search(r'<p id="regression-basis"[^>]*>([^<]+)</p>', page).group(1)
    assert "1.0 by v1, 1.1 by v2" in html.unescape(basis)
