"""Typed tracking code of a plan, as the API and the plan page deliver it: the files of a saved
version or of a draft document (app/codegen generates them), a zip of them, and the name the
download gets (docs/codegen.md)."""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from app.codegen import LANGUAGES, CodeFile, CodegenError, generate
from app.errors import ServiceError
from app.models import TrackedApp
from app.services.plans import versions as plans
from app.validation import PlanError, PlanTooLarge, parse_plan

# Every entry of a zip gets this time: the same plan gives the same bytes (ZIP's epoch).
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_SLUG = 60  # characters of the app's name in a download's file name


@dataclass(frozen=True)
class GeneratedCode:
    """The files generated for one plan (`plan_version` None: a draft) in one language."""

    app_name: str
    language: str
    plan_version: int | None
    files: list[CodeFile]

    def to_dict(self) -> dict[str, Any]:
        """The API's JSON answer."""
        return {
            "language": self.language,
            "plan_version": self.plan_version,
            "files": [{"path": file.path, "content": file.content} for file in self.files],
        }

    def zip_bytes(self) -> bytes:
        """The files in a zip archive, byte for byte the same for the same files."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in self.files:
                entry = zipfile.ZipInfo(_safe_path(file.path), date_time=ZIP_TIME)
                entry.compress_type = zipfile.ZIP_DEFLATED
                entry.create_system = 3  # Unix, wherever the service runs: rw-r--r-- below
                entry.external_attr = 0o100644 << 16
                archive.writestr(entry, file.content.encode("utf-8"))
        return buffer.getvalue()

    def content_disposition(self) -> str:
        """`attachment; filename="shop-plan-v3-typescript.zip"`: an ASCII slug of the app's
        name (no quote, line break or other character a header could trip on), and the
        name with its own letters as RFC 5987 `filename*` for browsers that read it."""
        version = "draft" if self.plan_version is None else f"v{self.plan_version}"
        tail = f"-plan-{version}-{self.language}.zip"
        unicode_name = _slug(self.app_name) + tail
        ascii_name = _slug(_ascii(_slug(self.app_name))) + tail
        return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(unicode_name)}"


def checked_language(language: str | None) -> str:
    """`language` if the generator knows it; ServiceError `unknown_language` listing them."""
    if language not in LANGUAGES:
        named = "Name the language" if not language else f"Unknown language {language!r}"
        raise ServiceError(
            "invalid", "unknown_language", f"{named}: one of {', '.join(LANGUAGES)}."
        )
    return language


def saved_plan_code(app: TrackedApp, language: str | None, version: int | None) -> GeneratedCode:
    """The code of saved version `version` (None: the published one)."""
    language = checked_language(language)
    if version is None:
        version = app.plan_version
        if version is None:
            raise ServiceError(
                "not_found",
                "no_plan",
                f"App {app.id} has no published plan: publish one, or name a saved version "
                "with ?version=.",
            )
    found = plans.version(app.id, version)
    if found is None:
        raise ServiceError(
            "not_found", "unknown_version", f"App {app.id} has no plan version {version}."
        )
    return _generate(app.name, found.body, language, version)


def draft_code(app: TrackedApp, language: str | None, body: dict[str, Any]) -> GeneratedCode:
    """The code of a plan document that is not saved (a draft: `plan_version` None)."""
    language = checked_language(language)
    try:
        parse_plan(body)
    except PlanTooLarge as exc:
        raise ServiceError("too_large", "plan_too_large", str(exc))
    except PlanError as exc:
        raise ServiceError("invalid", "invalid_plan", str(exc))
    return _generate(app.name, body, language, None)


def _generate(
    app_name: str, body: dict[str, Any], language: str, version: int | None
) -> GeneratedCode:
    try:
        files = generate(body, language, plan_version=version, app_name=app_name)
    except CodegenError as exc:
        raise ServiceError("invalid", "invalid_plan", str(exc))
    return GeneratedCode(app_name, language, version, files)


def _ascii(text: str) -> str:
    """`text` with accents dropped and other non-ASCII letters left out ("Café" → "Cafe")."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _slug(text: str) -> str:
    """Letters and digits in lower case, every other run of characters one hyphen."""
    slug = re.sub(r"[\W_]+", "-", text).strip("-").lower()[:MAX_SLUG].strip("-")
    return slug or "app"


def _safe_path(path: str) -> str:
    """A generated file's path, refused if it could leave the folder it is unpacked in (the
    generator promises relative paths; a zip is where a broken promise would hurt)."""
    parts = path.split("/")
    if not path or path.startswith("/") or "\\" in path or "\x00" in path or ".." in parts:
        raise ValueError(f"generated file path {path!r} would leave its folder")
    return path
