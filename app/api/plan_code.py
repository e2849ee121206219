"""Typed tracking code generated from a plan: of a saved version, or of a draft document sent in
the body; as JSON or as a zip (docs/codegen.md)."""

from __future__ import annotations

from flask import Response, request

from app.api.plan_checks import plan_body
from app.api.routes import api, authenticated_app
from app.errors import ApiError
from app.request_args import MAX_ID, int_arg
from app.schemas.api import CODE_FORMATS
from app.services.plans.code import (
    GeneratedCode,
    checked_language,
    draft_code,
    saved_plan_code,
)


@api.get("/apps/<int:app_id>/plan/code")
def plan_code(app_id: int):
    """Typed tracking code of the published plan (or of the saved `?version=`) in
    `?language=`: every file as JSON, or with `?format=zip` as a zip archive.
    ---
    get:
      tags: [plans]
      parameters:
        - {in: query, schema: PlanCodeVersionQuerySchema}
      responses:
        200:
          description: The generated files (JSON), or with `format=zip` a zip of them.
          content:
            application/json: {schema: PlanCode}
            application/zip: {schema: {type: string, format: binary}}
        401: Unauthorized
        404: NotFound
    """
    app = authenticated_app(app_id)
    language = checked_language(request.args.get("language"))
    format_ = _format_arg()
    version = int_arg("version", 0, 1, MAX_ID) or None
    return _answer(saved_plan_code(app, language, version), format_)


@api.post("/apps/<int:app_id>/plan/code")
def draft_plan_code(app_id: int):
    """Typed tracking code of the plan document sent (a draft: nothing is saved, and
    `plan_version` is null) in `?language=`, as JSON or with `?format=zip` a zip archive.
    ---
    post:
      tags: [plans]
      parameters:
        - {in: query, schema: PlanCodeQuerySchema}
      requestBody:
        required: true
        content:
          application/json: {schema: PlanDocumentSchema}
      responses:
        200:
          description: The generated files (JSON), or with `format=zip` a zip of them.
          content:
            application/json: {schema: PlanCode}
            application/zip: {schema: {type: string, format: binary}}
        401: Unauthorized
        404: NotFound
        413: PayloadTooLarge
    """
    app = authenticated_app(app_id)
    language = checked_language(request.args.get("language"))
    format_ = _format_arg()
    return _answer(draft_code(app, language, plan_body()), format_)


def _format_arg() -> str:
    value = request.args.get("format", "json")
    if value not in CODE_FORMATS:
        raise ApiError(
            400, "invalid_parameter", f"format must be one of {', '.join(CODE_FORMATS)}."
        )
    return value


def _answer(code: GeneratedCode, format_: str):
    if format_ == "json":
        return code.to_dict()
    return Response(
        code.zip_bytes(),
        mimetype="application/zip",
        headers={"Content-Disposition": code.content_disposition()},
    )
