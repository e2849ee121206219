"""Reading a request body as strict JSON: media type, encoding, size caps."""

from __future__ import annotations

import json
import zlib
from typing import Any

from flask import Request

from app.errors import ApiError
from app.validation.canonical import nests_deeper_than

JSON_MEDIA_TYPES = ("application/json", "text/plain")  # text/plain: browsers' beacons
# Far deeper than any real event, and far from Python's recursion limit, which later steps
# (hashing, validation, the queue's encoder) would otherwise hit first.
MAX_JSON_DEPTH = 64


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        duplicate = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"duplicate key {duplicate!r}")
    return result


_DECODER = json.JSONDecoder(
    parse_constant=_reject_constant, object_pairs_hook=_object_without_duplicates
)


def parse_strict_json(raw: bytes) -> Any:
    """Parse UTF-8 JSON, refusing NaN/Infinity, duplicate keys and runaway nesting (400)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_encoding", f"The body is not valid UTF-8 ({exc.reason}).")
    too_deep = ApiError(400, "too_deep", f"JSON may nest at most {MAX_JSON_DEPTH} levels deep.")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise too_deep
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}.")
    if nests_deeper_than(value, MAX_JSON_DEPTH):
        raise too_deep
    return value


def gunzip_capped(data: bytes, limit: int) -> bytes:
    """Inflate gzip data, stopping at `limit` bytes so a gzip bomb costs nothing (413)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise ApiError(400, "invalid_gzip", f"The body is not valid gzip data ({exc}).")
    if len(out) > limit or inflater.unconsumed_tail:
        raise ApiError(
            413, "payload_too_large", f"The decompressed body is over the {limit}-byte limit."
        )
    if not inflater.eof:
        raise ApiError(400, "invalid_gzip", "The gzip data is truncated.")
    if inflater.unused_data:
        raise ApiError(400, "invalid_gzip", "There are bytes after the end of the gzip data.")
    return out


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
