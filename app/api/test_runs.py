"""Test runs: set a run's expectations, close it (its report is in routes.py).

A run is named by `?name=` (percent-encoded), so any name a run can have works, even "." or "/".
Closing freezes the verdict on the events received until then; see docs/expectations.md.
"""

from __future__ import annotations

from flask import request

from app.api.routes import api, authenticated_app, test_run
from app.errors import ApiError
from app.services.ingestion.json_text import parse_strict_json
from app.services.statistics import run_expectations
from app.validation.expectations import MAX_DOCUMENT_BYTES


def _name() -> str:
    name = request.args.get("name")
    if not name:
        raise ApiError(400, "invalid_parameter", "Name the test run with ?name=<run>.")
    return run_expectations.run_name(name)


@api.put("/test-runs/expectations")
def put_expectations():
    """Set the expectations of the run named by ?name= (creating the run if need be); its
    report then passes only when every one is met. A closed run's cannot change (409).
    ---
    put:
      tags: [events]
      parameters:
        - {in: query, schema: RunNameQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: ExpectationsDocumentSchema}
      responses:
        200: SavedExpectations
        401: Unauthorized
        404: NotFound
        409: Conflict
        413: PayloadTooLarge
    """
    app = authenticated_app()
    name = _name()
    request.max_content_length = MAX_DOCUMENT_BYTES
    document = parse_strict_json(request.get_data(), "expectations document")
    return run_expectations.set_expectations(app.id, name, document)


@api.post("/test-runs/close")
def close_test_run():
    """Close the run named by ?name=: its verdict is judged on the events received until now;
    later ones are still stored, and listed as late. Closing again changes nothing.
    ---
    post:
      tags: [events]
      parameters:
        - {in: query, schema: RunNameQuerySchema}
      responses:
        200: TestRunReport
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app()
    name = _name()
    if not run_expectations.close_run(app.id, name):
        raise ApiError(404, "not_found", f"App {app.id} has never heard of test run {name!r}.")
    return test_run(name)
