"""`lvd codegen`: typed tracking code of the app's plan (or of a plan file), written under a
folder; no file the service names may land outside it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path, PurePosixPath

from lvd.api import Api
from lvd.documents import DocumentError, read_plan
from lvd.errors import CommandError
from lvd.terminal import plural, printable

# "C:" and the like: a path Windows reads as absolute or drive-relative.
_DRIVE = re.compile(r"^[A-Za-z]:")


def codegen(api: Api, args: argparse.Namespace) -> int:
    """Write the generated files under --out; exit 0 (errors raise, exit 3)."""
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
        source = f"plan version {answer['plan_version']}"
    else:
        answer = api.draft_code(app_id, plan_file.text, args.language)
        source = f"the draft {plan_file.path}"
    # Every path is checked before the first file is written: a refused answer writes nothing.
    files = [(inside(out, item["path"]), item["content"]) for item in answer["files"]]
    try:
        for target, content in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            # newline="": the bytes the service generated, not this platform's line ends.
            with open(target, "w", encoding="utf-8", newline="") as stream:
                stream.write(content)
    except OSError as exc:
        raise CommandError(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    print(
        f"wrote {plural(len(files), 'file')} to {printable(out)} from {printable(source)} "
        f"({printable(answer['language'])})"
    )
    return 0


def inside(out: Path, path: object) -> Path:
    """Where the file the service calls `path` goes under `out`; CommandError for any path
    that is not plainly relative ("/etc/x", "C:x", "..", backslashes, NUL, empty parts) or
    that resolves outside `out` (through a symbolic link already there)."""
    if not isinstance(path, str):
        raise CommandError(f"the service named a file that is not a path: {path!r}")
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or _DRIVE.match(path)
        or "\\" in path
        or "\x00" in path
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise CommandError(
            f"refusing the file {printable(repr(path))}: it would not stay inside {printable(out)}"
        )
    target = out.joinpath(*PurePosixPath(path).parts)
    root = out.resolve()
    if not target.resolve().is_relative_to(root):
        raise CommandError(
            f"refusing the file {printable(repr(path))}: it resolves outside {printable(out)}"
        )
    return target
