"""The ingestion endpoints answered straight from WSGI, without Flask's request machinery.

A single event's request spent more CPU in Flask around the view than in the view itself:
the request context, the session cookie (opened for flask-login's after-request hook), CSRF's
and the URL checks' before-request hooks, the URL map and a Response object — none of which an
SDK's POST uses. Plain POSTs to the ingestion paths are answered here instead, by the same view
code (routes.py, sdk_routes.py), in an app context, with the same JSON answers and errors, the
CORS and security headers, and the request metrics. Anything else — another method (CORS
preflights), a query string, a path that is not plain ASCII — goes to Flask, so those answers
stay Flask's own. tests/ingest/test_fast_lane.py compares the two answer for answer.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.wrappers import Request

from app import metrics
from app.dashboard.security import HEADERS as SECURITY_HEADERS
from app.errors import INTERNAL_ERROR, ApiError, ServiceError, error_answer, http_error_body
from app.ingest.cors import CORS_HEADERS, CROSS_ORIGIN_PATHS
from app.ingest.routes import batch_of_events, one_event
from app.ingest.sdk_routes import SHORT_PATHS, batch_of_messages, one_message
from app.schemas.sdk_message import MESSAGE_TYPES

log = logging.getLogger("app.errors")  # the logger of Flask's handler of unhandled errors

Handler = Callable[..., dict[str, Any]]

# A write key in the path is URL-safe text (app_keys.py); anything else takes Flask's route.
_KEY = r"([A-Za-z0-9_-]{1,200})"
_TYPES = "|".join(re.escape(name) for name in (*MESSAGE_TYPES, *SHORT_PATHS))
# (path pattern, the Flask endpoint it stands for (metrics), the view code, its 2xx status)
ROUTES: tuple[tuple[re.Pattern[str], str, Handler, int], ...] = (
    (re.compile(f"/api/logs/{_KEY}"), "ingest.log_event", one_event, 202),
    (re.compile(f"/api/logs/{_KEY}/batch"), "ingest.log_batch", batch_of_events, 202),
    (re.compile(f"/v1/({_TYPES})"), "sdk.single", one_message, 200),
    (re.compile("/v1/(?:batch|import|b)"), "sdk.batch", batch_of_messages, 200),
)
# An SDK whose host is configured with a trailing slash asks for `//v1/batch`: Flask would
# answer a 308 to the merged path, which a browser does not follow for a preflight (it has no
# CORS headers), so ingestion paths are merged here, for every method, before anyone routes.
_REPEATED_SLASHES = re.compile("/{2,}")
# Every answer of the ingestion blueprints carries these (Flask's after-request hooks add them).
_COMMON_HEADERS = [*CORS_HEADERS.items(), *SECURITY_HEADERS.items()]


class FastLane:
    """WSGI middleware: the ingestion POSTs answered here, everything else by `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if "//" in path:
            merged = _REPEATED_SLASHES.sub("/", path)
            if merged.startswith(CROSS_ORIGIN_PATHS):  # the ingestion endpoints' paths
                environ["PATH_INFO"] = path = merged
        if environ.get("REQUEST_METHOD") == "POST" and not environ.get("QUERY_STRING"):
            for pattern, endpoint, handler, ok_status in ROUTES:
                match = pattern.fullmatch(path)
                if match is not None:
                    status, body, headers = self._answer(environ, handler, match, ok_status)
                    return self._respond(environ, start_response, endpoint, status, body, headers)
        return self._wsgi_app(environ, start_response)

    def _answer(
        self, environ: dict[str, Any], handler: Handler, match: re.Match[str], ok_status: int
    ) -> tuple[int, Any, dict[str, str]]:
        request = Request(environ)
        # Flask's request reads this from the configuration; werkzeug's is told (a body over
        # it raises RequestEntityTooLarge, answered 413 as Flask answers it).
        request.max_content_length = self._app.config["MAX_CONTENT_LENGTH"]
        with self._app.app_context():
            try:
                return ok_status, handler(request, *match.groups()), {}
            except (ApiError, ServiceError) as error:
                return error_answer(error)
            except HTTPException as error:
                return error.code or 500, http_error_body(error, request), {}
            except Exception:
                log.exception("unhandled error")
                return 500, INTERNAL_ERROR, {}

    def _respond(
        self,
        environ: dict[str, Any],
        start_response: Callable,
        endpoint: str,
        status: int,
        body: Any,
        headers: dict[str, str],
    ) -> list[bytes]:
        data = (self._app.json.dumps(body) + "\n").encode()  # as Flask's JSON answers end
        start_response(
            f"{status} {HTTP_STATUS_CODES[status].upper()}",
            [
                ("Content-Type", "application/json"),
                ("Content-Length", str(len(data))),
                *headers.items(),
                *_COMMON_HEADERS,
            ],
        )
        try:
            metrics.count_request(endpoint, status, environ.get(metrics.STARTED))
        except Exception:  # a metric never fails a request (the events are queued)
            log.exception("request not counted")
        return [data]
