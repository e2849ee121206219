"""The OpenAPI 3.1 document of the JSON API (`GET /openapi.json`) and its page (`/api/docs`).

apispec builds it from the routes themselves: every rule of the documented blueprints is a path,
its view's docstring (YAML after `---`) says the operation's parameters, body and answers, and
the marshmallow schemas of app/schemas/ become its components. What every route of a blueprint
shares (authentication, the path parameters of its URL rule, the malformed-URL 400) is added
here, so a route's docstring says only what is its own. See docs/api.md.
"""

from __future__ import annotations

import re
from copy import deepcopy
from typing import Any

from apispec import APISpec, BasePlugin, yaml_utils
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec_webframeworks.flask import FlaskPlugin
from flask import Blueprint, Flask, current_app, render_template
from werkzeug.routing import AnyConverter, IntegerConverter, Rule

from app.schemas import api as schemas

# Blueprints whose every route is in the document. A route of theirs without a docstring
# operation fails tests/api/test_openapi.py.
DOCUMENTED_BLUEPRINTS = ("ingest", "sdk", "sdk_settings", "api", "health", "reference")
TITLE = "Live Validation Dashboard API"
VERSION = "1.0"
DESCRIPTION = (
    "Send events (native or Segment-format), read them back with their verdicts, manage "
    "tracking plans, jobs and dead letters. Every error is JSON "
    '`{"code", "message"[, "errors"]}`. See docs/api.md.'
)

# The reference's sections, in reading order (a route's `tags` names one).
TAGS = (
    ("native ingestion", "Events in this service's own format: `POST /api/logs/{write key}`."),
    ("SDK ingestion", "The Segment HTTP Tracking API, for existing analytics SDKs."),
    ("events", "Stored events with their verdicts, test runs and release regressions."),
    ("tasks", "What became of an accepted event: queued, stored, failed."),
    ("plans", "Tracking plans: versions, drafts, publishing, inference."),
    ("jobs", "Re-validations and imports running in the background."),
    ("dead letters", "Messages the worker gave up on: look, replay, discard."),
    ("operations", "Health, readiness and metrics."),
    ("reference", "This document."),
)
SECURITY_SCHEMES = {
    "readKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The app's secret read key: `Authorization: Bearer <read key>`.",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "The dashboard session of the app's owner (changes also need the page's "
        "CSRF token in `X-CSRFToken`).",
    },
    "writeKeyBasic": {
        "type": "http",
        "scheme": "basic",
        "description": "The app's write key as the user name, the password empty (what "
        'Segment SDKs send); or leave it out and put `"writeKey"` in the JSON body.',
    },
}
# Who may call a blueprint's routes; `{}` means no credentials (the SDK body's writeKey, or a
# native route's write key in its path, which OpenAPI has no security scheme for).
SECURITY = {
    "api": [{"readKey": []}, {"session": []}],
    "sdk": [{"writeKeyBasic": []}, {}],
    "ingest": [],
    # The write key is in the path (the SDKs send no credentials for their settings).
    "sdk_settings": [],
    "health": [],
    "reference": [],
}
PATH_PARAMETERS = {
    "app_id": "The app's id.",
    "app_key": "The app's write key (native ingestion takes it in the path).",
    "write_key": "The app's write key (an SDK's settings are fetched by it).",
    "letter": "The message type's first letter (`t` is track, `p` page, …).",
    "task_id": "A task id, as an ingestion answer gave it.",
    "dead_letter_id": "The dead letter's id.",
    "job_id": "The job's id.",
    "version": "A plan version number.",
    "message_type": "The message type (the body's `type`, when given, must match).",
    "test_run": "The test run's name (the X-Test-Run header or context.testRun of its events).",
}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schemas.ErrorSchema}},
    }


# Error answers a docstring names by their status alone (`401: Unauthorized` or just `401`).
ERROR_RESPONSES = {
    "BadRequest": _error(
        "A parameter, header or body is malformed, or a session's change lacks its CSRF "
        "token (`csrf_failed`): `code` says which rule."
    ),
    "Unauthorized": _error("No credentials, or ones that belong to no app."),
    "NotFound": _error("Nothing with this id is visible with these credentials."),
    "Conflict": _error("The request conflicts with the current state; `message` says how."),
    "PayloadTooLarge": _error("The body (or, gzipped, its inflated size) is over the limit."),
    "UnsupportedMediaType": _error("The Content-Type or Content-Encoding is not one accepted."),
    "TooManyRequests": _error("Over a rate or concurrency limit; retry after `Retry-After`."),
    "Unavailable": _error("A dependency (queue, database) is unreachable; retry shortly."),
}
STATUS_RESPONSES = {
    400: "BadRequest",
    401: "Unauthorized",
    404: "NotFound",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    429: "TooManyRequests",
    503: "Unavailable",
}
# Every route answers a NUL character in its URL with 400 (app/url_text.py).
ALWAYS = (400,)


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of `app`'s documented routes."""
    spec = APISpec(
        title=TITLE,
        version=VERSION,
        openapi_version="3.1.0",
        plugins=[FlaskPlugin(), BlueprintDefaults(), MarshmallowPlugin()],
        info={"description": DESCRIPTION},
    )
    for name, description in TAGS:
        spec.tag({"name": name, "description": description})
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    # Every schema of app/schemas/api.py is a component, named without its "Schema" suffix.
    for name, schema in vars(schemas).items():
        if isinstance(schema, type) and issubclass(schema, schemas.Schema):
            if schema.__module__ == schemas.__name__ and not name.endswith("QuerySchema"):
                spec.components.schema(
                    name.removesuffix("Schema").removesuffix("Doc"), schema=schema
                )
    for name, response in ERROR_RESPONSES.items():
        spec.components.response(name, response)
    rules = [
        rule
        for rule in sorted(app.url_map.iter_rules(), key=lambda rule: rule.rule)
        if rule.endpoint.partition(".")[0] in DOCUMENTED_BLUEPRINTS
    ]
    aliases = []
    for rule in rules:
        if rule is next(app.url_map.iter_rules(rule.endpoint)):
            _add_view(spec, app, rule)
        else:
            aliases.append(rule)
    document = spec.to_dict()
    for rule in aliases:
        _add_aliases(document, app, rule)
    return document


class BlueprintDefaults(BasePlugin):
    """Completes each operation FlaskPlugin read from a docstring: summary, operationId, tag,
    its blueprint's security, and the shorthand answers (`401`, `200: EventPage`)."""

    def operation_helper(self, path=None, operations=None, **kwargs: Any) -> None:
        view, app = kwargs["view"], kwargs["app"]
        rule = next(app.url_map.iter_rules(_endpoint(app, view)))
        blueprint = rule.endpoint.partition(".")[0]
        # Plain text: Swagger UI shows a summary as written, backticks and all.
        summary = " ".join((view.__doc__ or "").partition("---")[0].replace("`", "").split())
        for method, operation in (operations or {}).items():
            operation.setdefault("summary", summary)
            operation.setdefault("operationId", _operation_id(rule, method))
            operation.setdefault("tags", [blueprint])
            operation.setdefault("security", SECURITY[blueprint])
            operation["responses"] = _responses(operation.get("responses", {}))


def _endpoint(app: Flask, view: Any) -> str:
    return next(name for name, function in app.view_functions.items() if function is view)


def _add_view(spec: APISpec, app: Flask, rule: Rule) -> None:
    """The rule's view, if its docstring has operations (else it is a page, not JSON)."""
    view = app.view_functions[rule.endpoint]
    if yaml_utils.load_operations_from_docstring(view.__doc__ or ""):
        spec.path(view=view, app=app, parameters=_path_parameters(rule))


def _operation_id(rule: Rule, method: str) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "_", FlaskPlugin.flaskpath2openapi(rule.rule)).strip("_")
    return f"{method}_{words}"


def _responses(declared: dict) -> dict[str, Any]:
    """`401` or `401: Unauthorized` to the shared error answer; `200: EventPage` to that
    schema as JSON; anything else as written."""
    responses: dict[str, Any] = {}
    for status in ALWAYS:
        responses[str(status)] = STATUS_RESPONSES[status]
    for status, answer in declared.items():
        if answer is None:
            answer = STATUS_RESPONSES[int(status)]
        elif isinstance(answer, str) and answer not in ERROR_RESPONSES:
            schema = getattr(schemas, f"{answer}Schema")  # AttributeError names a typo
            description = (schema.__doc__ or answer).strip().splitlines()[0]
            content = {"application/json": {"schema": schema}}
            answer = {"description": description, "content": content}
        responses[str(status)] = answer
    return dict(sorted(responses.items()))


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    """The rule's `<…>` parts as OpenAPI path parameters (an `any()` part as an enum)."""
    parameters = []
    for name, converter in rule._converters.items():  # werkzeug keeps them by variable name
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer", "minimum": 0}
        elif isinstance(converter, AnyConverter):
            schema["enum"] = sorted(converter.items)
        parameters.append(
            {
                "in": "path",
                "name": name,
                "required": True,
                "schema": schema,
                "description": PATH_PARAMETERS.get(name, ""),
            }
        )
    return parameters


def _add_aliases(document: dict[str, Any], app: Flask, rule: Rule) -> None:
    """A view's further rule (`/v1/import` beside `/v1/batch`) answers as its first: the same
    path item under its own path (FlaskPlugin documents a view's first rule only)."""
    first = FlaskPlugin.flaskpath2openapi(next(app.url_map.iter_rules(rule.endpoint)).rule)
    if first not in document["paths"]:
        return  # the view is not documented
    item = deepcopy(document["paths"][first])
    parameters = _path_parameters(rule)  # its own: `/v1/<any(t, p, …):kind>` has other names
    if parameters:
        item["parameters"] = parameters
    for method, operation in item.items():
        if isinstance(operation, dict) and "operationId" in operation:
            operation["operationId"] = _operation_id(rule, method)
    document["paths"][FlaskPlugin.flaskpath2openapi(rule.rule)] = item


reference = Blueprint("reference", __name__)


@reference.get("/openapi.json")
def openapi_json():
    """This document.
    ---
    get:
      tags: [reference]
      responses:
        200:
          description: The OpenAPI 3.1 document of the JSON API.
          content:
            application/json:
              schema: {type: object}
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if "openapi" not in app.extensions:  # built once per process: the routes do not change
        app.extensions["openapi"] = build_spec(app)
    return app.extensions["openapi"]


@reference.get("/api/docs")
def api_docs():
    """The API reference page (Swagger UI, served from /static/vendor)."""
    return render_template("api_docs.html")
