"""One check of the text every URL carries: no NUL (or lone surrogate) in its path or query.

PostgreSQL text cannot hold U+0000, so a NUL that reached a filter or a path parameter was a
500 from the driver on the full profile; refusing it once here keeps every route from needing
its own check.
"""

from __future__ import annotations

from flask import request

from app.errors import ApiError
from app.services.ingestion.stored_event import text_problem


def check_url_text() -> None:
    """400 `invalid_parameter` when the path or a query argument holds unstorable text."""
    if problem := text_problem(request.path):
        raise ApiError(400, "invalid_parameter", f"The URL path {problem}.")
    for name, value in request.args.items(multi=True):
        if problem := text_problem(value):
            raise ApiError(400, "invalid_parameter", f"The query parameter {name!r} {problem}.")
        if problem := text_problem(name):
            raise ApiError(400, "invalid_parameter", f"A query parameter's name {problem}.")
