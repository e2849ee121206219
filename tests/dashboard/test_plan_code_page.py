"""The plan page's "Typed tracking code" box and its download, /apps/<id>/plan/code.zip: the
owner gets the same files as the API answers, anyone else a 404 page; a bad language or version
is refused with a page, not a zip."""

from __future__ import annotations

import html
import io
import json
import re
import zipfile

import pytest

from app.codegen import LANGUAGES
from tests.dashboard.helpers import sign_up_and_verify, submit
from tests.helpers import DEMO_PLAN

DRAFT = json.loads(json.dumps(DEMO_PLAN))
DRAFT["events"]["app_opened"] = {"type": "object"}


@pytest.fixture
def owner(micro_app):
    """A signed-in owner of an app 'Shop' with v1 published and v2 a draft."""
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "code@example.com")
    page = submit(client, "/apps", {"name": "Shop"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    for body, action in ((DEMO_PLAN, "publish"), (DRAFT, "draft")):
        submit(client, f"/apps/{app_id}/plan", {"body": json.dumps(body), "action": action})
    return client, app_id


def test_the_box_offers_every_language_and_saved_version(owner):
    client, app_id = owner
    page = client.get(f"/apps/{app_id}/plan").get_data(as_text=True)
    box = re.search(r'<section class="card" id="code">.*?</section>', page, re.S).group(0)
    assert f'action="/apps/{app_id}/plan/code.zip"' in box and 'method="get"' in box
    assert re.findall(r'<option value="([a-z]+)">', box) == list(LANGUAGES)
    versions = re.findall(r'<option value="(\d+)"( selected)?>([^<]*)</option>', box)
    assert [(v, bool(s), html.unescape(t)) for v, s, t in versions] == [
        ("2", False, "v2 · draft"),
        ("1", True, "v1 · published"),
    ]


def test_the_download_is_the_apis_files_as_a_zip(owner):
    client, app_id = owner
    for version in (1, 2):
        answer = client.get(f"/apps/{app_id}/plan/code.zip?language=typescript&version={version}")
        assert answer.status_code == 200 and answer.mimetype == "application/zip"
        assert answer.headers["Content-Disposition"].startswith(
            f'attachment; filename="shop-plan-v{version}-typescript.zip"'
        )
        with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
            zipped = {name: archive.read(name).decode() for name in archive.namelist()}
        api = client.get(f"/api/apps/{app_id}/plan/code?language=typescript&version={version}")
        assert zipped == {item["path"]: item["content"] for item in api.json["files"]}
    published = client.get(f"/apps/{app_id}/plan/code.zip?language=typescript")
    assert 'filename="shop-plan-v1-typescript.zip"' in published.headers["Content-Disposition"]


def test_someone_elses_app_is_a_404_page(micro_app, owner):
    _, app_id = owner
    stranger = micro_app.test_client()
    sign_up_and_verify(stranger, micro_app, "stranger@example.com")
    answer = stranger.get(f"/apps/{app_id}/plan/code.zip?language=typescript&version=1")
    assert answer.status_code == 404 and answer.mimetype == "text/html"
    anonymous = micro_app.test_client().get(f"/apps/{app_id}/plan/code.zip?language=typescript")
    assert anonymous.status_code == 302 and "/login" in anonymous.headers["Location"]


@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("language=cobol", 400, "typescript, python, kotlin, swift"),
        ("", 400, "Name the language"),
        ("language=typescript&version=3", 404, "no plan version 3"),
        ("language=typescript&version=99999999999", 404, "no plan version"),
        ("language=typescript&version=abc", 400, "whole number"),
        ("language=typescript&version=" + "9" * 5000, 400, "whole number"),
    ],
)
def test_bad_choices_are_pages_saying_why(owner, query, status, says):
    client, app_id = owner
    answer = client.get(f"/apps/{app_id}/plan/code.zip?{query}")
    assert answer.status_code == status and answer.mimetype == "text/html"
    assert says in html.unescape(answer.get_data(as_text=True))


def test_an_app_without_a_saved_plan_says_to_save_one(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "empty@example.com")
    page = submit(client, "/apps", {"name": "Empty"}).get_data(as_text=True)
    app_id = int(re.search(r'action="/apps/(\d+)/rotate-write-key"', page).group(1))
    page = client.get(f"/apps/{app_id}/plan").get_data(as_text=True)
    assert "Save a plan version first" in page and 'id="code-form"' not in page
    answer = client.get(f"/apps/{app_id}/plan/code.zip?language=typescript")
    assert answer.status_code == 404 and "no published plan" in answer.get_data(as_text=True)
