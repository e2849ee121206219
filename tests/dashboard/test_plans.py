"""The plan editor: drafts, publishing, versions with a diff, rollback; bad JSON and bad plans
are refused with their reason, and nothing is saved."""

from __future__ import annotations

import html
import json
import re

import pytest

from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "plans@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    key = re.search(r'id="write-key">([0-9a-f]+)<', page).group(1)
    return client, app_id, key


def _save(client, app_id: int, body, action: str):
    text = body if isinstance(body, str) else json.dumps(body)
    return submit(client, f"/apps/{app_id}/plan", {"body": text, "action": action})


def test_a_draft_changes_nothing_until_it_is_published(micro_app, owner):
    client, app_id, key = owner
    assert client.post(f"/api/logs/{key}", json={"eventName": "user_login"}).json["status"] == (
        "unplanned"
    )
    page = _save(client, app_id, DEMO_PLAN, "draft").get_data(as_text=True)
    assert "Version 1 saved as a draft" in page
    assert 'id="published-version">none<' in page
    answer = client.post(f"/api/logs/{key}", json={"eventName": "user_login", "userId": 1})
    assert answer.json["status"] == "unplanned"

    page = _save(client, app_id, DEMO_PLAN, "publish").get_data(as_text=True)
    assert "Version 2 published" in page
    answer = client.post(f"/api/logs/{key}", json={"eventName": "user_login", "userId": "x"})
    assert answer.json["status"] == "invalid"  # micro re-reads the plan within 2 s (cache)


def test_versions_show_their_diff_and_an_older_one_can_be_published_again(micro_app, owner):
    client, app_id, _ = owner
    _save(client, app_id, DEMO_PLAN, "publish")
    stricter = json.loads(json.dumps(DEMO_PLAN))
    stricter["events"]["user_login"]["required"] = ["userId", "method"]
    page = html.unescape(_save(client, app_id, stricter, "draft").get_data(as_text=True))
    assert re.search(r'^\+\s+"method"$', page, re.M)  # v2's diff against the published v1
    page = submit(client, f"/apps/{app_id}/plan", {}, action=f"/apps/{app_id}/plan/2/publish")
    assert 'id="published-version">2<' in page.get_data(as_text=True)
    page = submit(client, f"/apps/{app_id}/plan", {}, action=f"/apps/{app_id}/plan/1/publish")
    assert 'id="published-version">1<' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "Not valid JSON"),
        ("[1, 2]", "A plan is a JSON object"),
        ('{"events": {"e": {"type": 5}}}', "e"),
        ('{"unplanned_events": "maybe"}', "unplanned_events"),
        ('{"events": {"e": {"description": "a\\u0000b"}}}', "NUL character"),
        ('{"events": {"e": {"properties": {"c": {"pattern": "(a)\\\\1"}}}}}', "backreference"),
        ('{"events": {"e": {"patternProperties": {"(?!x)": {}}}}}', "lookahead"),
        ("[" * 20_000 + "]" * 20_000, "nests deeper than 64"),  # past the parser's own limit
        ('{"events": {"e": ' + '{"not": ' * 70 + "{}" + "}" * 70 + "}}", "deeper than 64"),
        (json.dumps({"events": {f"e{i}": {"title": "x" * 1000} for i in range(300)}}), "256 KB"),
    ],
    ids=[
        "not-json",
        "array",
        "bad-type",
        "bad-policy",
        "nul",
        "backref",
        "lookahead",
        "deep-json",
        "deep-plan",
        "too-big",
    ],  # fmt: skip
)
def test_bad_plans_are_refused_with_their_reason(micro_app, owner, body, reason):
    client, app_id, _ = owner
    page = _save(client, app_id, body, "publish").get_data(as_text=True)
    assert reason in page
    assert 'class="flash error"' in page
    assert "No versions yet" in page
