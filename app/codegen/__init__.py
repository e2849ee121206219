"""Typed tracking code from a tracking plan: plan dict in, source files out (docs/codegen.md).

Pure: it reads the plan with app.validation and imports nothing else of app. Each language is
a module of this package with a `render(model: TrackingModel) -> list[CodeFile]` function; a
language whose module is not installed answers CodegenError("... not available").
"""

from __future__ import annotations

import importlib
from typing import Any

from .model import CodeFile, CodegenError, TrackingModel, build_model

LANGUAGES = ("typescript", "python", "kotlin", "swift")

__all__ = ["LANGUAGES", "CodeFile", "CodegenError", "TrackingModel", "build_model", "generate"]


def generate(
    plan: dict[str, Any],
    language: str,
    *,
    plan_version: int | None,
    app_name: str | None = None,
) -> list[CodeFile]:
    """The source files of `language` for `plan` (a plan document); CodegenError if the
    language is unknown or unavailable, or the plan is malformed."""
    if language not in LANGUAGES:
        raise CodegenError(f"Unknown language {language!r}; choose one of {', '.join(LANGUAGES)}")
    try:
        # Imported by name so a language module can be added (or be missing) on its own.
        module = importlib.import_module(f"{__name__}.{language}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{language}":
            raise
        raise CodegenError(f"Code generation for {language} is not available") from None
    try:
        model = build_model(plan, plan_version=plan_version, app_name=app_name)
        files: list[CodeFile] = module.render(model)
    except RecursionError:
        # A chain of hundreds of $refs (each a schema of its own) is deeper than the walk goes.
        raise CodegenError(
            "The plan's schemas nest (or chain $refs) too deeply to generate code from"
        ) from None
    return files
