"""Cross-origin access for the endpoints a web page's SDK calls (ingestion and settings).

analytics.js sends `Authorization: Basic …`, which makes the browser ask first (an OPTIONS
preflight). Any origin may send: these endpoints read a write key, never a cookie, so the
answers allow no credentials and a page can learn nothing it did not send. The dashboard and
the read API get none of this: a browser keeps other sites away from them.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

# Headers the SDKs send (analytics-next: Content-Type, Authorization, X-Retry-Count).
DEFAULT_ALLOWED_HEADERS = "Authorization, Content-Type, Content-Encoding, X-Retry-Count, X-Test-Run"
# analytics-next reads Retry-After on a 429 to pace its retries.
EXPOSED_HEADERS = "Retry-After"
PREFLIGHT_MAX_AGE = "86400"  # a day: one preflight per page and endpoint, not per event


def allow_cross_origin(blueprint: Blueprint) -> None:
    """Answer preflights and add the CORS headers to every answer of `blueprint`'s routes."""
    blueprint.before_request(_answer_preflight)
    blueprint.after_request(_add_cors_headers)


def _answer_preflight() -> Response | None:
    if request.method != "OPTIONS":
        return None
    response = Response(status=204)
    rule = request.url_rule
    methods = sorted(rule.methods or ()) if rule is not None else ["OPTIONS"]
    response.headers["Access-Control-Allow-Methods"] = ", ".join(methods)
    # Echo what the page asked for: an SDK may be configured with headers of its own
    # (analytics-next `deliveryStrategy.config.headers`); none of them grants anything here.
    asked = request.headers.get("Access-Control-Request-Headers", "").strip()
    response.headers["Access-Control-Allow-Headers"] = asked or DEFAULT_ALLOWED_HEADERS
    response.headers["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response


# What every answer of these endpoints carries (app/ingest/fast_lane.py adds them too).
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": EXPOSED_HEADERS,
}


def _add_cors_headers(response: Response) -> Response:
    response.headers.update(CORS_HEADERS)
    return response


# The paths of those endpoints (fast_lane.py merges repeated slashes in them). A request that
# reached none of their routes (another method's 405, a 404 under them) belongs to no
# blueprint, so the hooks above never see it: its JSON error gets the headers here, so the
# page that sent it can read why.
CROSS_ORIGIN_PATHS = ("/v1/", "/api/logs/")


def add_cors_headers_to_unrouted(response: Response) -> Response:
    """An app-wide after-request hook: CORS headers on answers under CROSS_ORIGIN_PATHS that
    no route of the endpoints above answered."""
    if request.blueprint is None and request.path.startswith(CROSS_ORIGIN_PATHS):
        response.headers.update(CORS_HEADERS)
    return response
