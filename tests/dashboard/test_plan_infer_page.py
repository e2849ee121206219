"""The plan page's inference step: observed unplanned events listed with counts, time last seen
and samples, plausible names ticked, junk names unticked in their own list and shown as text;
posting the ticked names saves a draft with exactly those. A name with a line break and markup
survives the round trip through the checkbox; nothing ticked, or a forged value, is refused
with a message and saves nothing; another user's app is 404."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import TrackingPlan
from app.services.storage.events import store_events
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import queued_message

JUNK = '<img src=x onerror="alert(1)">'
ODD = "two\nlines <b>bold</b>"


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "picker@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    key = re.search(r'id="write-key">([0-9a-f]+)<', page).group(1)
    raws = [
        {"eventName": "order_placed", "price": 10},
        {"eventName": "order_placed", "price": 11, "coupon": "<script>x</script>"},
        {"eventName": "search", "query": "hats"},
        {"eventName": JUNK, "a": 1},
        {"eventName": ODD, "b": 2},
    ]
    with micro_app.app_context():
        store_events([queued_message(micro_app, key, raw) for raw in raws])
    return client, app_id


def _versions(micro_app, app_id) -> list[TrackingPlan]:
    with micro_app.app_context():
        return list(db.session.scalars(select(TrackingPlan).where(TrackingPlan.app_id == app_id)))


def _checkboxes(page: str) -> list[tuple[str, bool]]:
    """(the event name a checkbox posts, whether it is ticked), in page order."""
    found = re.findall(
        r'<input type="checkbox" name="event" value="([^"]*)"[^>]*?(checked)?>', page
    )
    return [(json.loads(html.unescape(value)), bool(ticked)) for value, ticked in found]


def test_the_page_lists_events_to_pick_with_junk_unticked_and_escaped(micro_app, owner):
    client, app_id = owner
    page = client.get(f"/apps/{app_id}/plan/infer").get_data(as_text=True)
    assert _checkboxes(page) == [
        ("order_placed", True),
        ("search", True),
        (JUNK, False),
        (ODD, False),
    ]
    # Markup in names and samples is text; the line break is shown as \n.
    assert "<img" not in page and "<script>x" not in page and "<b>" not in page
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page  # Jinja escapes quotes too
    assert "two\\nlines &lt;b&gt;bold&lt;/b&gt;" in page
    assert 'id="implausible"' in page
    counts = re.findall(r'<td class="count">(\d+)</td>', page)
    assert counts == ["2", "1", "1", "1"]
    assert "&#34;coupon&#34;: &#34;&lt;script&gt;x&lt;/script&gt;&#34;" in page  # newest sample
    assert " UTC</time>" in page
    assert "Infer a draft" in client.get(f"/apps/{app_id}/plan").get_data(as_text=True)


def test_posting_the_ticked_names_saves_a_draft_with_exactly_those(micro_app, owner):
    client, app_id = owner
    picked = [json.dumps("order_placed"), json.dumps(ODD)]
    answer = submit(client, f"/apps/{app_id}/plan/infer", {"event": picked})
    text = answer.get_data(as_text=True)
    assert "adds 2: order_placed, two\\nlines &lt;b&gt;bold&lt;/b&gt;." in text
    (draft,) = _versions(micro_app, app_id)
    assert (draft.version, draft.status) == (1, "draft")
    assert sorted(draft.body["events"]) == sorted(["order_placed", ODD])
    assert draft.body["events"]["order_placed"]["properties"]["price"] == {"type": "number"}
    # What is left to pick: the two not chosen.
    left = _checkboxes(client.get(f"/apps/{app_id}/plan/infer").get_data(as_text=True))
    assert left == [("search", True), (JUNK, False)]


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "Choose at least one event to add."),
        (["not json"], "not a name"),
        ([json.dumps(["a list"])], "not a name"),
        ([json.dumps("never_seen")], "Not among the unplanned events"),
    ],
)
def test_bad_picks_are_refused_with_a_message(micro_app, owner, values, message):
    client, app_id = owner
    answer = submit(client, f"/apps/{app_id}/plan/infer", {"event": values})
    assert answer.status_code == 200
    assert message in answer.get_data(as_text=True)
    assert _versions(micro_app, app_id) == []


def test_another_users_app_is_not_found(micro_app, owner):
    _, app_id = owner
    stranger = micro_app.test_client()
    sign_up_and_verify(stranger, micro_app, "stranger@example.com")
    assert stranger.get(f"/apps/{app_id}/plan/infer").status_code == 404
