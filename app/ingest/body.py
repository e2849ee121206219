"""Reading a request body as strict JSON: media type, encoding, size caps (the parsing itself
is services/ingestion/json_text.py, the inflating gzip_data.py)."""

from __future__ import annotations

from typing import Any

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Request

from app.errors import ApiError
from app.services.ingestion.gzip_data import gunzip_capped
from app.services.ingestion.json_text import parse_strict_json

JSON_MEDIA_TYPES = ("application/json", "text/plain")  # text/plain: browsers' beacons


def read_json_body(request: Request, max_bytes: int) -> Any:
    """The request's body as parsed JSON, or an ApiError (400, 413, 415)."""
    mimetype = request.mimetype
    if mimetype and mimetype not in JSON_MEDIA_TYPES and not mimetype.endswith("+json"):
        raise ApiError(
            415, "unsupported_media_type", f"Send JSON (application/json), not {mimetype}."
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", f"Send UTF-8 JSON, not {charset}.")
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    _refuse_a_longer_stream(request, len(raw))
    if encoding == "gzip":
        raw = gunzip_capped(raw, max_bytes)
    elif encoding not in ("identity", ""):
        raise ApiError(
            415,
            "unsupported_encoding",
            f"Content-Encoding {encoding!r} is not supported; use gzip.",
        )
    if not raw.strip():
        raise ApiError(400, "empty_body", "The body is empty; send a JSON event.")
    return parse_strict_json(raw)


def _refuse_a_longer_stream(request: Request, length: int) -> None:
    """413 for a body without Content-Length (chunked) that goes on past the cap: werkzeug
    stops reading at the cap without a word (the body could end exactly there), and the JSON
    cut there would be answered as malformed, or worse, parsed."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and length >= limit:
        if request.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
