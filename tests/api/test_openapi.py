"""GET /openapi.json: a valid OpenAPI 3.1 document of every JSON route, built from the routes'
docstrings and the marshmallow schemas; /api/docs shows it with local files only."""

from __future__ import annotations

import re

import schemathesis
from flask import Flask

from app.api import plans as plans_api
from app.api.openapi import DOCUMENTED_BLUEPRINTS, build_spec
from app.schemas import api as schemas
from app.services.jobs import runner as jobs
from app.services.statistics import overview

# Routes of the documented blueprints that are pages, not JSON endpoints.
PAGES = {"reference.api_docs"}
SETTINGS = "/v1/projects/{write_key}/settings"


def document_of(app: Flask) -> dict:
    response = app.test_client().get("/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_valid_openapi_3_1(micro_app: Flask) -> None:
    document = document_of(micro_app)
    assert document["openapi"] == "3.1.0"
    schemathesis.openapi.from_dict(document).validate()  # the OpenAPI 3.1 meta-schema


def test_every_json_route_is_documented_with_its_methods(micro_app: Flask) -> None:
    paths = document_of(micro_app)["paths"]
    documented = {
        (path, method.upper())
        for path, item in paths.items()
        for method in item
        if method != "parameters"
    }
    expected = set()
    for rule in micro_app.url_map.iter_rules():
        blueprint = rule.endpoint.partition(".")[0]
        if blueprint not in DOCUMENTED_BLUEPRINTS or rule.endpoint in PAGES:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            expected.add((path, method))
    assert expected and documented == expected
    assert "/api/docs" not in paths  # a page


def test_operations_say_their_answers_auth_and_errors(micro_app: Flask) -> None:
    document = document_of(micro_app)
    error = {"$ref": "#/components/schemas/Error"}
    assert document["components"]["responses"]["Unauthorized"]["content"] == {
        "application/json": {"schema": error}
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            statuses = set(operation["responses"])
            assert any(status.startswith("2") for status in statuses), (path, method)
            assert "400" in statuses  # a NUL in any URL is a 400 (app/url_text.py)
            if path.startswith("/api/") and not path.startswith("/api/logs/"):
                assert operation["security"] == [{"readKey": []}, {"session": []}], path
                assert {"401", "404"} <= statuses, (path, method)
            if path == SETTINGS:  # the write key is in the path
                assert operation["security"] == [] and {"200", "404"} <= statuses, path
            elif path.startswith("/v1/"):
                assert operation["security"] == [{"writeKeyBasic": []}, {}], path
                assert {"200", "401", "413", "415"} <= statuses, path
            if path.startswith("/api/logs/"):
                assert {"202", "401", "413", "415", "429"} <= statuses, path
    events = document["paths"]["/api/apps/{app_id}/events"]["get"]
    status = next(p for p in events["parameters"] if p["name"] == "status")
    assert status["schema"]["enum"] == ["valid", "invalid", "unplanned"]


def test_the_sdk_paths_are_spelled_out(micro_app: Flask) -> None:
    paths = document_of(micro_app)["paths"]
    item = paths["/v1/{message_type}"]
    (parameter,) = item["parameters"]
    assert set(parameter["schema"]["enum"]) == {
        "track",
        "identify",
        "screen",
        "page",
        "group",
        "alias",
    }
    # /v1/import is the batch view's second rule: the same operation under its own path.
    batch, imported = paths["/v1/batch"]["post"], paths["/v1/import"]["post"]
    assert imported == {**batch, "operationId": "post_v1_import"}


def test_a_further_rule_of_a_documented_view_is_documented_with_it(micro_app: Flask) -> None:
    # What adding `@sdk.post("/b")` above the batch view does (the mobile SDKs' path).
    micro_app.add_url_rule(
        "/v1/b", "sdk.batch", micro_app.view_functions["sdk.batch"], methods=["POST"]
    )
    # And short paths stacked on the single-message view, with a variable of their own.
    micro_app.add_url_rule(
        "/v1/<any(t, p):short_type>",
        "sdk.single",
        micro_app.view_functions["sdk.single"],
        methods=["POST"],
    )
    document = build_spec(micro_app)
    schemathesis.openapi.from_dict(document).validate()
    paths = document["paths"]
    assert paths["/v1/b"]["post"]["requestBody"] == paths["/v1/batch"]["post"]["requestBody"]
    short = paths["/v1/{short_type}"]
    assert short["post"]["responses"] == paths["/v1/{message_type}"]["post"]["responses"]
    assert [(p["name"], p["schema"]["enum"]) for p in short["parameters"]] == [
        ("short_type", ["p", "t"])
    ]


def test_the_copied_enums_match_what_the_routes_accept() -> None:
    assert schemas.JOB_KINDS == jobs.KINDS
    assert schemas.OVERVIEW_RESOLUTIONS == overview.WINDOW_RESOLUTIONS
    assert tuple(schemas.OVERVIEW_RESOLUTIONS) == tuple(overview.WINDOWS)
    assert (schemas.MAX_CHOSEN, schemas.MAX_NAME_LENGTH) == (
        plans_api.MAX_CHOSEN,
        plans_api.MAX_NAME_LENGTH,
    )


def test_the_docs_page_loads_only_local_files(micro_app: Flask) -> None:
    client = micro_app.test_client()
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in sources
    assert all(source.startswith(("/", "data:")) for source in sources), sources
    assert "<script>" not in html and "style=" not in html  # the CSP forbids inline ones
    for source in sources:
        if source.startswith("/static/"):
            with client.get(source) as served:  # closed: a static file is streamed
                assert served.status_code == 200, source
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
