"""GET and POST /api/apps/<id>/plan/code: typed tracking code of a saved version or of a draft
document, as JSON or as a zip, with the read key or the owner's session.

Bad inputs tried, each answered with its JSON error: no key, the write key, a key of no app,
another app's read key (404), an unknown or missing language, an unknown format, no published
plan, a version that does not exist, a version that is not a number; a draft that is not a
plan, not JSON, not an object or over the size cap. App names that would break a header (quotes,
semicolons, line breaks, unicode) give a safe ASCII file name and an RFC 5987 `filename*`.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from werkzeug.http import parse_options_header

from app.codegen import LANGUAGES, generate
from app.extensions import db
from app.models import TrackedApp
from app.schemas import api as schemas
from app.services.accounts.users import find_user
from app.services.apps import NewApp
from app.services.plans import code as plan_code
from app.validation.plan import MAX_PLAN_BYTES
from tests.dashboard.helpers import csrf_token, sign_up_and_verify
from tests.helpers import DEMO_PLAN, assert_error
from tests.support.profiles import add_app

LANGUAGE = "typescript"
DRAFT = copy.deepcopy(DEMO_PLAN)
DRAFT["events"]["app_opened"] = {"type": "object", "properties": {"cold": {"type": "boolean"}}}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def code_url(new: NewApp) -> str:
    return f"/api/apps/{new.app.id}/plan/code"


@pytest.fixture
def client(micro_app: Flask) -> FlaskClient:
    return micro_app.test_client()


@pytest.fixture
def shop(micro_app: Flask) -> NewApp:
    """An app with the demo plan published (v1) and a draft v2."""
    new = add_app(micro_app, "Shop", plan=DEMO_PLAN)
    saved = micro_app.test_client().post(
        f"/api/apps/{new.app.id}/plan", json=DRAFT, headers=bearer(new.read_key)
    )
    assert saved.json == {"version": 2, "status": "draft"}
    return new


def get(client: FlaskClient, new: NewApp, **query: Any):
    return client.get(code_url(new), query_string=query, headers=bearer(new.read_key))


def files_of(answer) -> dict[str, str]:
    return {item["path"]: item["content"] for item in answer.json["files"]}


def zip_files(data: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.testzip() is None
        return {info.filename: archive.read(info).decode("utf-8") for info in archive.infolist()}


def download_names(header: str) -> tuple[str, str]:
    """The plain `filename`, and the name a browser reads (werkzeug's parser decodes the RFC
    5987 `filename*`, which comes after the plain one and wins)."""
    plain = re.fullmatch(r'attachment; filename="([^"]*)"; filename\*=[^;]*', header)
    assert plain, header
    kind, options = parse_options_header(header)
    assert kind == "attachment"
    return plain.group(1), options["filename"]


# --- saved versions ------------------------------------------------------------------------------


def test_the_published_plan_as_json_is_what_the_generator_makes(client, shop):
    answer = get(client, shop, language=LANGUAGE)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["language"] == LANGUAGE and answer.json["plan_version"] == 1
    expected = generate(DEMO_PLAN, LANGUAGE, plan_version=1, app_name="Shop")
    assert answer.json["files"] == [{"path": f.path, "content": f.content} for f in expected]
    assert expected  # at least one file


def test_a_saved_draft_version_by_number(client, shop):
    answer = get(client, shop, language=LANGUAGE, version=2)
    assert answer.status_code == 200 and answer.json["plan_version"] == 2
    expected = generate(DRAFT, LANGUAGE, plan_version=2, app_name="Shop")
    assert files_of(answer) == {f.path: f.content for f in expected}
    assert files_of(answer) != files_of(get(client, shop, language=LANGUAGE))


def test_the_zip_holds_the_json_files_byte_for_byte_the_same_each_time(client, shop):
    answer = get(client, shop, language=LANGUAGE, format="zip")
    assert answer.status_code == 200 and answer.mimetype == "application/zip"
    assert zip_files(answer.data) == files_of(get(client, shop, language=LANGUAGE))
    with zipfile.ZipFile(io.BytesIO(answer.data)) as archive:
        assert {info.date_time for info in archive.infolist()} == {plan_code.ZIP_TIME}
    assert get(client, shop, language=LANGUAGE, format="zip").data == answer.data
    plain, full = download_names(answer.headers["Content-Disposition"])
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert plain == full == f"shop-plan-v1-{LANGUAGE}.zip"


def test_every_language_has_a_zip(client, shop):
    for language in LANGUAGES:
        answer = get(client, shop, language=language, format="zip")
        assert answer.status_code == 200, (language, answer.get_data(as_text=True)[:300])
        assert zip_files(answer.data), language


def test_the_schema_lists_the_generators_languages():
    assert schemas.CODE_LANGUAGES == LANGUAGES


# --- errors --------------------------------------------------------------------------------------


def test_credentials_that_reach_no_plan_get_nothing(micro_app, client, shop):
    other = add_app(micro_app, "Other", plan=DEMO_PLAN)
    url = code_url(shop) + f"?language={LANGUAGE}"
    assert_error(client.get(url), 401, "unauthorized")
    assert_error(client.get(url, headers=bearer("rk_nothing")), 401, "unauthorized")
    # The write key is in every shipped app: it reads nothing here.
    assert_error(client.get(url, headers=bearer(shop.app.write_key)), 401, "unauthorized")
    assert_error(client.get(url, headers=bearer(other.read_key)), 404, "not_found")
    answer = client.post(url, json=DEMO_PLAN, headers=bearer(other.read_key))
    assert_error(answer, 404, "not_found")


@pytest.mark.parametrize("language", [None, "", "TypeScript", "java", "typescript "])
def test_an_unknown_language_is_a_400_naming_the_languages(client, shop, language):
    query = {} if language is None else {"language": language}
    for answer in (
        get(client, shop, **query),
        client.post(code_url(shop), query_string=query, json=DRAFT, headers=bearer(shop.read_key)),
    ):
        body = assert_error(answer, 400, "unknown_language")
        assert all(name in body["message"] for name in LANGUAGES), body


def test_bad_parameters_are_400(client, shop):
    assert_error(get(client, shop, language=LANGUAGE, format="tar"), 400, "invalid_parameter")
    for version in ("abc", "0", "-1", "1.0", str(2**31)):
        answer = get(client, shop, language=LANGUAGE, version=version)
        assert_error(answer, 400, "invalid_parameter")


def test_no_published_plan_and_unknown_versions_are_404(micro_app, client, shop):
    empty = add_app(micro_app, "Empty")
    body = assert_error(get(client, empty, language=LANGUAGE), 404, "no_plan")
    assert "version" in body["message"]
    assert_error(get(client, shop, language=LANGUAGE, version=3), 404, "unknown_version")
    assert_error(get(client, empty, language=LANGUAGE, version=1), 404, "unknown_version")


# --- drafts --------------------------------------------------------------------------------------


def post(client: FlaskClient, new: NewApp, body: Any, **query: Any):
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(
        code_url(new),
        data=data,
        query_string={"language": LANGUAGE, **query},
        content_type="application/json",
        headers=bearer(new.read_key),
    )


def test_a_draft_document_is_generated_and_nothing_is_saved(client, shop):
    answer = post(client, shop, DRAFT)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.json["plan_version"] is None
    expected = generate(DRAFT, LANGUAGE, plan_version=None, app_name="Shop")
    assert files_of(answer) == {f.path: f.content for f in expected}
    zipped = post(client, shop, DRAFT, format="zip")
    assert zip_files(zipped.data) == files_of(answer)
    assert download_names(zipped.headers["Content-Disposition"])[0] == (
        f"shop-plan-draft-{LANGUAGE}.zip"
    )
    versions = client.get(f"/api/apps/{shop.app.id}/plan/versions", headers=bearer(shop.read_key))
    assert [v["version"] for v in versions.json["versions"]] == [2, 1]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"events": "nope"}, 400, "invalid_plan"),
        ({"events": {"a": {"type": "strange"}}}, 400, "invalid_plan"),
        ([DEMO_PLAN], 400, "invalid_plan"),
        (b'{"events": ', 400, "invalid_json"),
        (b"\xff", 400, "invalid_encoding"),
    ],
)
def test_a_bad_draft_is_a_400(client, shop, body, status, code):
    body = assert_error(post(client, shop, body), status, code)
    assert body["message"]


def test_a_draft_over_the_plan_size_cap_is_a_413(client, shop):
    big = {"events": {f"e{n}": {"description": "x" * 1000} for n in range(MAX_PLAN_BYTES // 900)}}
    assert_error(post(client, shop, big), 413, "plan_too_large")


def test_the_owners_session_reads_and_posts_with_its_token(micro_app):
    owner = micro_app.test_client()
    sign_up_and_verify(owner, micro_app, "owner@example.com")
    new = add_app(micro_app, "Mine", plan=DEMO_PLAN)
    with micro_app.app_context():
        owner_id = find_user("owner@example.com").id
        db.session.execute(
            update(TrackedApp).where(TrackedApp.id == new.app.id).values(owner_id=owner_id)
        )
        db.session.commit()
    url = code_url(new) + f"?language={LANGUAGE}"
    assert owner.get(url).status_code == 200
    assert_error(owner.post(url, json=DRAFT), 400, "csrf_failed")
    answer = owner.post(url, json=DRAFT, headers={"X-CSRFToken": csrf_token(owner, "/apps")})
    assert answer.status_code == 200 and answer.json["plan_version"] is None


# --- the download's file name --------------------------------------------------------------------

HOSTILE_NAMES = [
    ('Shop "quoted"; filename=evil.exe', "shop-quoted-filename-evil-exe", None),
    ("Café Ünïcode", "cafe-unicode", "café-ünïcode"),
    ("日本語アプリ", "app", "日本語アプリ"),
    ("../../etc/passwd", "etc-passwd", None),
    ("line\u2028break\u00a0and\u200bzero", "line-break-and-zero", None),
    ("a\r\nSet-Cookie: x=1", "a-set-cookie-x-1", None),  # stored before names were checked
]


@pytest.mark.parametrize(("name", "ascii_slug", "unicode_slug"), HOSTILE_NAMES)
def test_hostile_app_names_give_safe_file_names(micro_app, client, name, ascii_slug, unicode_slug):
    new = add_app(micro_app, "placeholder", plan=DEMO_PLAN)
    with micro_app.app_context():  # the column holds any text; the API may not assume better
        db.session.execute(update(TrackedApp).where(TrackedApp.id == new.app.id).values(name=name))
        db.session.commit()
    answer = get(client, new, language=LANGUAGE, format="zip")
    assert answer.status_code == 200
    header = answer.headers["Content-Disposition"]
    assert header.isascii() and "\r" not in header and "\n" not in header
    assert header.count('"') == 2  # the name's own quotes are gone
    plain, full = download_names(header)
    assert plain == f"{ascii_slug}-plan-v1-{LANGUAGE}.zip"
    assert re.fullmatch(r"[a-z0-9.-]+", plain)
    assert full == f"{unicode_slug or ascii_slug}-plan-v1-{LANGUAGE}.zip"
    assert "/" not in full and ".." not in full.removesuffix(".zip")


def test_lone_surrogates_in_a_draft_are_a_400_in_every_language_and_format(client, shop):
    """JSON escapes can name a lone surrogate, which no UTF-8 file or zip entry can hold: the
    plan is refused as a plan before any generator sees it."""
    raw = b'{"events": {"a\\ud800b": {"type": "object", "properties": {"p\\udfff": {}}}}}'
    for language in LANGUAGES:
        for format_ in ("json", "zip"):
            answer = client.post(
                code_url(shop),
                data=raw,
                query_string={"language": language, "format": format_},
                content_type="application/json",
                headers=bearer(shop.read_key),
            )
            assert "surrogate" in assert_error(answer, 400, "invalid_plan")["message"]
