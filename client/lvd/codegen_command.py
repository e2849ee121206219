"""`lvd codegen`: typed tracking code of the app's plan (or of a plan file), written under a
folder; no file the service names may land outside it."""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from lvd.api import Api
from lvd.documents import DocumentError, read_plan
from lvd.errors import CommandError
from lvd.terminal import plural, printable

# What a generated file's path may be made of: parts of letters, digits, "_", "-" and "." that
# start with a letter or digit (no hidden files like .git/hooks/x, no "C:", no "x.py:stream",
# no look-alike slashes), at most a few levels deep. The service's files are all of this shape.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
_MAX_DEPTH = 8


def codegen(api: Api, args: argparse.Namespace) -> int:
    """Write the generated files under --out; exit 0 (errors raise, exit 3)."""
    if not args.out:
        raise CommandError("--out names the folder to write into; it cannot be empty")
    if args.plan_file is not None and args.version is not None:
        raise CommandError("--version picks a saved plan; with a plan file there is none to pick")
    out = Path(args.out)
    plan_file = None
    if args.plan_file is not None:
        try:
            plan_file = read_plan(args.plan_file)
        except DocumentError as exc:
            raise CommandError(str(exc))
    app_id = api.whoami()["id"]
    if plan_file is None:
        answer = api.plan_code(app_id, args.language, args.version)
    else:
        answer = api.draft_code(app_id, plan_file.text, args.language)
    # Every path is checked before the first file is written: a refused answer writes nothing.
    files = [(inside(out, path), content) for path, content in _files(answer)]
    if plan_file is None:
        source = f"plan version {answer.get('plan_version')}"
    else:
        source = f"the draft {plan_file.path}"
    _distinct([path for path, _ in files], out)
    try:
        for target, content in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            _replace(target, content)
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    print(
        f"wrote {plural(len(files), 'file')} to {printable(out)} from {printable(source)} "
        f"({printable(str(answer.get('language', args.language)))})"
    )
    return 0


def _files(answer: Any) -> list[tuple[object, str]]:
    """The (path, content) pairs of the service's answer; CommandError for any other shape
    (a content that is not text, or text no file can hold, like a lone surrogate)."""
    files = answer.get("files") if isinstance(answer, dict) else None
    if not isinstance(files, list) or not all(isinstance(item, dict) for item in files):
        raise CommandError("the service's answer has no list of files; nothing written")
    pairs = []
    for item in files:
        content = item.get("content")
        if not isinstance(content, str):
            raise CommandError("the service sent a file without text content; nothing written")
        try:
            content.encode("utf-8")
        except UnicodeEncodeError:
            raise CommandError("the service sent a file that is not UTF-8 text; nothing written")
        pairs.append((item.get("path"), content))
    return pairs


def _distinct(targets: list[Path], out: Path) -> None:
    """CommandError when two files are one, or one is another's folder ("a.py", "a.py/b.py")."""
    # Compared without case: one file on macOS's and Windows' file systems.
    seen = {target.as_posix().casefold() for target in targets}
    if len(seen) < len(targets):
        raise CommandError(f"the service named the same file twice; nothing written to {out}")
    for target in targets:
        if any(parent.as_posix().casefold() in seen for parent in target.parents):
            raise CommandError(
                f"the service named {printable(target.as_posix())} under another file; "
                f"nothing written to {printable(out)}"
            )


def _replace(target: Path, content: str) -> None:
    """Write `content` as a new file that takes `target`'s name: a file already there is
    replaced, never written through (a hard link to a file elsewhere stays as it was)."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".lvd-", suffix=".tmp")
    try:
        # newline="": the bytes the service generated, not this platform's line ends.
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
            stream.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def inside(out: Path, path: object) -> Path:
    """Where the file the service calls `path` goes under `out`; CommandError for any path
    not made of plain parts (_PART: so no "/etc/x", "C:x", "..", ".git", backslashes, NUL,
    empty parts) or that resolves outside `out` (through a symbolic link already there)."""
    if not isinstance(path, str):
        raise CommandError(f"the service named a file that is not a path: {path!r}")
    parts = path.split("/")
    if len(parts) > _MAX_DEPTH or not all(_PART.fullmatch(part) for part in parts):
        raise CommandError(
            f"refusing the file {printable(repr(path))}: not a plain relative file name "
            f"under {printable(out)}"
        )
    target = out.joinpath(*PurePosixPath(path).parts)
    root = out.resolve()
    if not target.resolve().is_relative_to(root):
        raise CommandError(
            f"refusing the file {printable(repr(path))}: it resolves outside {printable(out)}"
        )
    return target
