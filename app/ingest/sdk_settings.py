"""The settings an SDK fetches before it sends: `GET /v1/projects/<writeKey>/settings`.

Segment's SDKs read their source's settings from a CDN whose host can be changed (analytics-next
`cdnURL`, analytics-swift/-kotlin `cdnHost`, analytics-react-native `cdnProxy`). Answered here,
the settings send the SDK's events back to this service: `integrations["Segment.io"].apiHost`
is this service's `/v1` as the SDK reached it (or at PUBLIC_API_HOST when set), and no other
destination, remote plugin, edge function or metrics upload is switched on. The fields are
those the SDKs read (analytics-next browser/settings.ts `CDNSettings`, analytics-kotlin
Settings.kt, analytics-swift Settings.swift); docs/sdks.md says which versions.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ApiError
from app.host_header import is_host_and_port
from app.ingest.cors import allow_cross_origin
from app.services.ingestion.admission import unavailable
from app.services.ingestion.stored_event import text_problem

sdk_settings = Blueprint("sdk_settings", __name__, url_prefix="/v1")
allow_cross_origin(sdk_settings)


def segment_settings(write_key: str, api_host: str, protocol: str) -> dict[str, Any]:
    """The settings document for an app's write key, sending events to `protocol://api_host`."""
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": api_host,
                # analytics-next reads it (plugins/segmentio `settings.protocol`, default https);
                # the mobile SDKs ignore it and always use https.
                "protocol": protocol,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        # Off: the SDKs would otherwise post their own telemetry to Segment's host.
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
        "consentSettings": {"allCategories": [], "hasUnmappedDestinations": False},
    }


@sdk_settings.get("/projects/<write_key>/settings")
def project_settings(write_key: str):
    """The settings of the app with this write key (404 for an unknown key).
    ---
    get:
      tags: [SDK ingestion]
      responses:
        200: SdkSettings
        404: NotFound
        503: Unavailable
    """
    if text_problem(write_key) or not _known(write_key):
        # A mobile SDK falls back to its default settings; analytics-next stops loading.
        raise ApiError(404, "unknown_app_key", "No app has this write key.")
    # request.scheme honours X-Forwarded-Proto from TRUSTED_PROXIES (app/__init__.py).
    body = segment_settings(write_key, f"{_api_host()}/v1", request.scheme)
    return body, 200, {"Cache-Control": "no-cache"}


def _api_host() -> str:
    """PUBLIC_API_HOST when set, else the host[:port] the SDK dialled (so an emulator's
    10.0.2.2 comes back as itself); a Host header that is no host[:port] is a 400."""
    # The raw header: werkzeug's request.host turns an invalid one into "" without a word.
    dialled = request.environ.get("HTTP_HOST")
    if dialled is not None and not is_host_and_port(dialled):
        raise ApiError(
            400,
            "invalid_host",
            "The Host header must be a host name or address with an optional port.",
        )
    # request.host, when no Host was sent (HTTP/1.0): the server's own address.
    return current_app.config["PUBLIC_API_HOST"] or dialled or request.host


def _known(write_key: str) -> bool:
    try:
        return current_app.extensions["app_directory"].lookup(write_key) is not None
    except SQLAlchemyError:
        raise unavailable("The database is unreachable and this key is not cached; retry shortly.")
