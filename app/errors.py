"""Errors as values: one handler turns them into the JSON error body."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.wrappers import Request

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error answered as `{"code", "message"[, "errors"]}` with an HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.errors, self.headers = errors, headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class ServiceError(Exception):
    """An error of the service layer: what went wrong (`kind`), a machine code and a message.

    Services raise these without knowing about HTTP; the handler below answers them with the
    status of their kind (the CLI prints the message).
    """

    def __init__(
        self,
        kind: str,
        code: str,
        message: str,
        errors: list[Any] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        STATUS[kind]  # KeyError for a kind no status answers: add it to STATUS
        self.kind, self.code, self.message = kind, code, message
        self.errors, self.retry_after = errors, retry_after

    @property
    def status(self) -> int:
        """The HTTP status this error is answered with."""
        return STATUS[self.kind]

    def body(self) -> dict[str, Any]:
        """The JSON error body."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


# The HTTP status of each kind of service error.
STATUS = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    "too_large": 413,
    "rate_limited": 429,
    "unavailable": 503,
}


INTERNAL_ERROR = {"code": "internal_error", "message": "The server failed to handle this request."}

# Werkzeug's own errors (routing, size limit, method) get machine codes of ours.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def error_answer(error: ApiError | ServiceError) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, JSON body, headers) of one of our errors, for Flask's handler and the
    ingestion fast lane alike."""
    if isinstance(error, ApiError):
        return error.status, error.body(), error.headers
    headers = {}
    if error.retry_after is not None:  # SDKs retry after this many seconds
        headers["Retry-After"] = str(error.retry_after)
    return error.status, error.body(), headers


def http_error_body(error: HTTPException, request: Request) -> dict[str, str]:
    """The JSON body of werkzeug's own error (routing, size limit, method, CSRF)."""
    if isinstance(error, CSRFError):  # a session's POST without its token: not a bad body
        code = "csrf_failed"
    else:
        code = HTTP_CODES.get(error.code or 500, "http_error")
    return {"code": code, "message": _message(error, request)}


def _message(error: HTTPException, request: Request) -> str:
    """Werkzeug's description, or for a body over the cap one that says the cap."""
    limit = request.max_content_length  # a route may raise it for its request (uploads)
    if isinstance(error, RequestEntityTooLarge) and limit is not None:
        return f"The request body is over the {limit}-byte limit."
    return error.description or ""


# The dashboard's pages answer errors as pages; everything else answers JSON.
PAGE_BLUEPRINTS = {"accounts", "apps", "plans", "plan_impact", "operations", "webhooks"}


def register_error_handlers(app: Flask) -> None:
    """Answer every error, ours or not, as JSON."""

    @app.errorhandler(ApiError)
    @app.errorhandler(ServiceError)
    def handle_error(error: ApiError | ServiceError):
        status, body, headers = error_answer(error)
        return jsonify(body), status, headers

    @app.errorhandler(HTTPException)
    def handle_http_exception(error: HTTPException):
        if request.blueprint in PAGE_BLUEPRINTS:  # a person with a browser, not an SDK
            return render_template("error.html", status=error.code, error=error), error.code
        # Werkzeug's own headers of the error, but its HTML type: a 405's Allow, for one.
        headers = [(k, v) for k, v in error.get_headers() if k.lower() != "content-type"]
        return jsonify(http_error_body(error, request)), error.code, headers

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        log.exception("unhandled error")
        return jsonify(INTERNAL_ERROR), 500
