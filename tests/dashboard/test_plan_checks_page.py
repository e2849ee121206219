"""The plan editor's checks: the lint findings of the version being edited, and for a draft
its changes against the published version, breaking ones marked, above the Publish button."""

from __future__ import annotations

import copy
import json
import re
from html.parser import HTMLParser

import pytest

from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN


class Rows(HTMLParser):
    """The rows of the table with this id: (the row's class, its cells' text)."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id, self.inside, self.rows = table_id, False, []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr" and attrs.get("class"):
            self.rows.append((attrs["class"], []))
        elif self.inside and tag == "td":
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif tag == "td" and self.cell is not None:
            self.rows[-1][1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def rows(page: str, table_id: str) -> list[tuple[str, list[str]]]:
    parser = Rows(table_id)
    parser.feed(page)
    return parser.rows


@pytest.fixture
def owner(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "checks@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    return client, app_id


def save(client, app_id: int, body, action: str) -> str:
    data = {"body": json.dumps(body), "action": action}
    return submit(client, f"/apps/{app_id}/plan", data).get_data(as_text=True)


def test_the_published_version_shows_its_findings_and_no_changes(owner):
    client, app_id = owner
    assert 'id="plan-checks"' not in client.get(f"/apps/{app_id}/plan").get_data(as_text=True)
    document = {**copy.deepcopy(DEMO_PLAN), "lint": {"property_names": "snake_case"}}
    page = save(client, app_id, document, "publish")
    assert "Checks of v1" in page
    found = rows(page, "lint-findings")
    assert found[0] == (
        "error",
        ["error", "user_login · userId", "Property 'userId' of 'user_login' is not snake_case.",
         "property-name-case"],
    )  # fmt: skip
    assert [kind for kind, _ in found] == ["error"] + ["warning"] * 6
    assert re.search(r'class="badge error">1 error<', page)
    assert re.search(r'class="badge warning">6 warnings<', page)
    assert 'id="plan-changes"' not in page  # published: nothing to compare


def test_a_draft_shows_its_changes_breaking_first_before_the_publish_button(owner):
    client, app_id = owner
    save(client, app_id, DEMO_PLAN, "publish")
    draft = copy.deepcopy(DEMO_PLAN)
    draft["events"]["user_login"]["properties"]["method"]["enum"].append("github")
    draft["events"]["user_login"]["required"].append("method")
    draft["events"]["Screen View"] = draft["events"]["screen_view"]
    page = save(client, app_id, draft, "draft")
    assert "Checks of draft v2" in page and "Changes against published v1" in page
    assert re.search(r'class="badge breaking">1 breaking<', page)
    assert re.search(r'class="badge additive">2 additive<', page)
    assert [(kind, cells[1], cells[3]) for kind, cells in rows(page, "plan-changes")] == [
        ("breaking", "user_login · method", "required-added"),
        ("additive", "user_login · method", "enum-widened"),
        ("additive", "Screen View", "event-added"),
    ]
    collision = [cells for kind, cells in rows(page, "lint-findings") if kind == "error"]
    assert collision == [
        [
            "error",
            "Screen View",  # stored with sorted keys: "Screen View" comes first
            "Event 'Screen View' differs from 'screen_view' only by case or separators.",
            "event-name-collision",
        ]
    ]
    assert page.index('id="plan-checks"') < page.index('value="publish"')
