"""The jobs API: start, list, show, cancel; every bad input answered as a JSON error (400,
404, 409, 413, 415), never a 500. Other apps' jobs look like none (tests/api/test_ownership.py
checks the routes against other users and keys)."""

from __future__ import annotations

import gzip
import io
import json
import zlib

import pytest

from app.services.accounts.users import find_user
from app.services.apps import create_app_record
from app.services.jobs import imports
from tests.dashboard.helpers import csrf_token, sign_up_and_verify
from tests.helpers import DEMO_PLAN, assert_error, broker_messages, message_args
from tests.services.jobs.helpers import run_to_the_end
from tests.support.profiles import add_app

LINE = b'{"eventName": "user_login", "userId": 1}\n'


@pytest.fixture
def shop(micro_app):
    new = add_app(micro_app, plan=DEMO_PLAN)
    client = micro_app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {new.read_key}"
    return client, new.app.id


def start(client, app_id: int, **kwargs):
    return client.post(f"/api/apps/{app_id}/jobs", **kwargs)


def revalidate(client, app_id: int, **body):
    return start(client, app_id, json={"kind": "revalidate", **body})


def upload(client, app_id: int, data: bytes, content_type="application/x-ndjson", **query):
    return start(client, app_id, data=data, content_type=content_type, query_string=query)


def multipart(filename: str, data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with one file. (Built here: the test client would spool a
    large one to a temporary file it never closes.)"""
    boundary = "job-upload-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    )
    body = head.encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_started_job_is_queued_for_a_worker_and_listed_newest_first(micro_app, shop):
    client, app_id = shop
    first = revalidate(client, app_id, plan_version=1, since="2026-01-01T00:00:00Z")
    assert first.status_code == 201, first.json
    assert first.headers["Location"] == f"/api/apps/{app_id}/jobs/{first.json['id']}"
    job = first.json
    assert job["state"] == "queued" and job["kind"] == "revalidate" and job["app_id"] == app_id
    assert job["params"] == {"plan_version": 1, "since": "2026-01-01T00:00:00+00:00"}
    assert (job["done"], job["total"], job["percent"], job["result"]) == (0, None, None, {})
    second = upload(client, app_id, LINE)
    assert second.status_code == 201 and second.json["total"] == 1
    tasks = broker_messages(micro_app, "batch_processing")
    assert [m["headers"]["task"] for m in tasks] == ["app.tasks.jobs.run_job"] * 2
    assert [message_args(m) for m in tasks] == [[job["id"]], [second.json["id"]]]

    listed = client.get(f"/api/apps/{app_id}/jobs").json["jobs"]
    assert [j["id"] for j in listed] == [second.json["id"], job["id"]]
    assert "result" not in listed[0]  # the list is light: a job's own page has its result
    only = client.get(f"/api/apps/{app_id}/jobs", query_string={"kind": "import"}).json["jobs"]
    assert [j["id"] for j in only] == [second.json["id"]]
    assert client.get(f"/api/apps/{app_id}/jobs?state=done").json["jobs"] == []
    assert len(client.get(f"/api/apps/{app_id}/jobs?limit=1").json["jobs"]) == 1

    done = run_to_the_end(micro_app, second.json["id"])
    shown = client.get(f"/api/apps/{app_id}/jobs/{second.json['id']}").json
    assert shown == done
    assert shown["state"] == "done" and shown["percent"] == 100.0 and shown["eta_seconds"] == 0
    assert shown["rate_per_second"] > 0 and shown["started_at"] and shown["finished_at"]
    assert shown["result"]["stored"] == 1


@pytest.mark.parametrize(
    "query", [{"state": "sleeping"}, {"kind": "export"}, {"limit": "0"}, {"limit": "x"}]
)
def test_bad_list_filters_are_400(shop, query):
    client, app_id = shop
    assert_error(client.get(f"/api/apps/{app_id}/jobs", query_string=query), 400)


@pytest.mark.parametrize(
    "body, code",
    [
        ({"kind": "export"}, "invalid_kind"),
        ({}, "invalid_kind"),
        ({"kind": "revalidate"}, "invalid_parameter"),  # no plan named
        ({"kind": "revalidate", "plan_version": 1, "plan": {"events": {}}}, "invalid_parameter"),
        ({"kind": "revalidate", "plan_version": 9}, "invalid_plan_version"),
        ({"kind": "revalidate", "plan_version": 0}, "invalid_plan_version"),
        ({"kind": "revalidate", "plan_version": 10**20}, "invalid_plan_version"),
        ({"kind": "revalidate", "plan_version": "1"}, "invalid_parameter"),
        ({"kind": "revalidate", "plan_version": True}, "invalid_parameter"),
        ({"kind": "revalidate", "plan": {"events": []}}, "invalid_plan"),
        ({"kind": "revalidate", "plan": "x"}, "invalid_plan"),
        ({"kind": "revalidate", "plan": {"events": {"a\u0000": {}}}}, "invalid_plan"),
        ({"kind": "revalidate", "plan_version": 1, "since": "yesterday"}, "invalid_parameter"),
        ({"kind": "revalidate", "plan_version": 1, "until": 1700000000}, "invalid_parameter"),
        (
            {"kind": "revalidate", "plan_version": 1, "since": "2026-02-01", "until": "2026-01-01"},
            "invalid_parameter",
        ),
        ({"kind": "revalidate", "plan_version": 1, "plan_verison": 2}, "invalid_parameter"),
    ],
)
def test_bad_revalidation_parameters_are_400(shop, body, code):
    client, app_id = shop
    assert_error(start(client, app_id, json=body), 400, code)
    assert client.get(f"/api/apps/{app_id}/jobs").json["jobs"] == []


@pytest.mark.parametrize(
    "data, content_type, status, code",
    [
        (b"[1, 2]", "application/json", 400, "invalid_parameter"),
        (b"{nope", "application/json", 400, "invalid_json"),
        (b'{"kind": "import"}', "application/json", 415, "unsupported_media_type"),
        (LINE, "text/csv", 415, "unsupported_media_type"),
        (LINE, None, 415, "unsupported_media_type"),
        (b"", "application/x-ndjson", 400, "empty_file"),
        (b" \n\n", "application/x-ndjson", 400, "empty_file"),
        (gzip.compress(b"\n"), "application/gzip", 400, "empty_file"),
        (b"eventName,userId\nlogin,1\n", "application/x-ndjson", 400, "not_ndjson"),
        (b"\x89PNG\r\n\x1a\n", "application/gzip", 400, "not_ndjson"),
        (b"\x1f\x8b\x08\x00garbage", "application/gzip", 400, "invalid_gzip"),
        (gzip.compress(LINE * 100)[:-20], "application/gzip", 400, "invalid_gzip"),
    ],
    ids=[
        "json-array",
        "bad-json",
        "import-as-json",
        "csv-type",
        "no-type",
        "empty",
        "blank",
        "empty-gzip",
        "csv-content",
        "png",
        "bad-gzip",
        "truncated-gzip",
    ],
)
def test_bad_uploads_and_bodies_are_answered_with_their_reason(
    shop, data, content_type, status, code
):
    client, app_id = shop
    assert_error(start(client, app_id, data=data, content_type=content_type), status, code)
    assert client.get(f"/api/apps/{app_id}/jobs").json["jobs"] == []


def test_an_upload_must_be_an_import(shop):
    client, app_id = shop
    assert_error(upload(client, app_id, LINE, kind="revalidate"), 400, "invalid_kind")
    form = {"kind": "revalidate", "file": (io.BytesIO(LINE), "a.ndjson")}
    assert_error(start(client, app_id, data=form), 400, "invalid_kind")
    assert_error(start(client, app_id, data={"other": (io.BytesIO(LINE), "a")}), 400)
    assert client.get(f"/api/apps/{app_id}/jobs").json["jobs"] == []


def test_a_file_over_the_limit_is_413(shop):
    client, app_id = shop
    limit = client.application.config["IMPORT_MAX_BYTES"]
    just_over = LINE * (limit // len(LINE)) + b" " * (limit % len(LINE) + 1)
    assert_error(upload(client, app_id, just_over), 413, "file_too_large")
    body, content_type = multipart("big.ndjson", just_over)
    assert_error(start(client, app_id, data=body, content_type=content_type), 413, "file_too_large")
    far_over = just_over + b" " * (1 << 20)  # refused before it is read
    assert_error(upload(client, app_id, far_over), 413, "payload_too_large")
    assert client.get(f"/api/apps/{app_id}/jobs").json["jobs"] == []
    at_limit = LINE * (limit // len(LINE)) + b" " * (limit % len(LINE))
    assert upload(client, app_id, at_limit).status_code == 201


def test_a_gzip_that_unpacks_beyond_the_limit_is_413(shop):
    client, app_id = shop
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # a gzip, made in pieces
    spaces = b" " * (1 << 20)
    pieces = [packer.compress(LINE)]
    pieces += [packer.compress(spaces) for _ in range(imports.MAX_UNPACKED_BYTES >> 20)]
    bomb = b"".join(pieces) + packer.flush()
    assert len(bomb) < client.application.config["IMPORT_MAX_BYTES"]
    assert_error(upload(client, app_id, bomb, "application/gzip"), 413, "file_too_large")


def test_unknown_jobs_are_404_and_a_finished_job_cannot_be_cancelled(micro_app, shop):
    client, app_id = shop
    other = add_app(micro_app, "other")
    theirs = micro_app.test_client().post(
        f"/api/apps/{other.app.id}/jobs",
        data=LINE,
        content_type="application/x-ndjson",
        headers={"Authorization": f"Bearer {other.read_key}"},
    )
    assert theirs.status_code == 201
    for job_id in (theirs.json["id"], 999, 10**20):  # another app's job looks like none
        assert_error(client.get(f"/api/apps/{app_id}/jobs/{job_id}"), 404, "not_found")
        assert_error(client.post(f"/api/apps/{app_id}/jobs/{job_id}/cancel"), 404, "not_found")
    assert_error(client.get(f"/api/apps/{app_id}/jobs/abc"), 404)

    queued = upload(client, app_id, LINE).json
    cancelled = client.post(f"/api/apps/{app_id}/jobs/{queued['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["state"] == "cancelled" and cancelled.json["finished_at"]
    again = client.post(f"/api/apps/{app_id}/jobs/{queued['id']}/cancel")
    assert "already cancelled" in assert_error(again, 409, "job_finished")["message"]
    assert run_to_the_end(micro_app, queued["id"])["state"] == "cancelled"  # never started

    finished = upload(client, app_id, LINE).json
    run_to_the_end(micro_app, finished["id"])
    late = client.post(f"/api/apps/{app_id}/jobs/{finished['id']}/cancel")
    assert "already done" in assert_error(late, 409, "job_finished")["message"]


def test_bad_lines_are_listed_with_their_reasons(micro_app, shop):
    client, app_id = shop
    lines = [
        b'{"eventName": "user_login", "userId": 1}',
        b"{broken",
        b'"just a string"',
        b'{"userId": 1}',
        json.dumps({"eventName": "x", "pad": "y" * 40_000}).encode(),
        b'{"eventName": "user_login", "n": NaN}',
        b'{"eventName": "user_login", "n": 1e400}',
        b'{"eventName": "user_login", "a": 1, "a": 2}',
        b'{"eventName": "user_login", "s": "\\u0000"}',
        b'{"eventName": "user_login", "s": "\xff"}',
        b'{"type": "alias", "userId": "u1"}',
    ]
    job = upload(client, app_id, b"\n".join(lines)).json
    result = run_to_the_end(micro_app, job["id"])["result"]
    assert [(e["line"], e["code"]) for e in result["errors"]] == [
        (2, "invalid_json"),
        (3, "not_an_object"),
        (4, "no_event_name"),
        (5, "event_too_large"),
        (6, "invalid_json"),
        (7, "non_finite_number"),
        (8, "invalid_json"),
        (9, "nul_character"),
        (10, "invalid_encoding"),
        (11, "invalid_event"),
    ]
    assert all(e["message"] for e in result["errors"]) and result["stored"] == 1


def test_the_owners_session_uploads_with_its_csrf_token(micro_app):
    client = micro_app.test_client()
    sign_up_and_verify(client, micro_app, "owner@example.com")
    with micro_app.app_context():
        owner_id = find_user("owner@example.com").id
        app_id = create_app_record("Shop", DEMO_PLAN, owner_id=owner_id).app.id
    url = f"/api/apps/{app_id}/jobs"
    form = {"file": (io.BytesIO(LINE), "a.ndjson")}
    assert_error(client.post(url, data=form), 400, "csrf_failed")
    token = {"X-CSRFToken": csrf_token(client, "/apps")}
    raw = client.post(url, data=LINE, content_type="application/x-ndjson", headers=token)
    assert raw.status_code == 201 and raw.json["total"] == 1
    form = {"file": (io.BytesIO(LINE * 2), "b.ndjson"), "csrf_token": token["X-CSRFToken"]}
    multipart_form = client.post(url, data=form)
    assert multipart_form.status_code == 201 and multipart_form.json["total"] == 2
