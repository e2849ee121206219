"""`lvd plan lint`, `lvd plan diff` and `lvd plan push`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime, timedelta

from lvd import diff_output, lint_output, polling
from lvd.annotations import annotation
from lvd.api import Api, ApiError
from lvd.documents import DocumentError, UnreadableFile, read_plan
from lvd.errors import CommandError
from lvd.terminal import printable

CONVENTIONS = (
    "snake_case",
    "camelCase",
    "PascalCase",
    "Object Action",
    "object_action",
    "kebab-case",
    "any",
)
# The service's finished job states ("succeeded": the contract draft's word for "done").
JOB_FINISHED = ("done", "succeeded", "failed", "cancelled")
UNFINISHED = 2  # exit code: the impact job did not finish within --wait


class Unfinished(Exception):
    """The impact job did not finish in time (exit 2)."""


def _broken_plan(path: str, message: str, line: int, fmt: str) -> str:
    """A plan that does not parse, as a lint error in the chosen format."""
    if fmt == "github":
        return annotation("error", message, file=path, line=line, title="invalid-plan")
    if fmt == "json":
        finding = {
            "severity": "error",
            "rule": "invalid-plan",
            "path": "",
            "event": None,
            "property": None,
            "message": message,
            "file": path,
            "line": line,
        }
        return json.dumps({"findings": [finding], "errors": 1, "warnings": 0}, indent=2)
    return f"{printable(path)}:{line}: error [invalid-plan] {printable(message)}"


def lint(api: Api, args: argparse.Namespace) -> int:
    """Exit 1 on errors (and warnings with --strict), 0 otherwise."""
    try:
        plan = read_plan(args.file)
    except UnreadableFile as exc:
        raise CommandError(str(exc))
    except DocumentError as exc:  # a plan that does not parse is the lint's first finding
        print(_broken_plan(exc.path, exc.message, exc.line, args.format))
        return 1
    app_id = api.whoami()["id"]
    conventions = {"event_names": args.event_names, "property_names": args.property_names}
    try:
        answer = api.lint(app_id, plan.text, conventions)
    except ApiError as exc:
        if exc.status == 400 and exc.code == "invalid_plan":
            print(_broken_plan(plan.path, exc.message, 1, args.format))
            return 1
        raise
    print(lint_output.render(answer, plan.path, plan.lines, args.format))
    return 1 if answer["errors"] or (args.strict and answer["warnings"]) else 0


def _impact(api: Api, app_id: int, plan: dict, days: float, wait: float) -> dict:
    """The finished re-validation job of the stored events of the last `days` against `plan`
    (a draft: nothing stored changes)."""
    since = (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")
    job = api.start_revalidation(app_id, plan, since)
    deadline = time.monotonic() + wait
    job, finished = polling.until(
        lambda d: api.job(app_id, job["id"], d), lambda j: j["state"] in JOB_FINISHED, deadline
    )
    if not finished:
        raise Unfinished(
            f"the impact job {job['id']} is still {job['state']} after {wait:.0f} s "
            f"({job['done']} of {job['total']} events judged); wait longer with --wait, or see "
            f"GET /api/apps/{app_id}/jobs/{job['id']}"
        )
    if job["state"] not in ("done", "succeeded"):
        raise CommandError(f"the impact job {job['id']} {job['state']}: {job['error']}")
    return job


def diff(api: Api, args: argparse.Namespace) -> int:
    """Exit 1 when changes of the --fail-on kind exist, 2 when the impact job did not finish."""
    try:
        plan = read_plan(args.file)
    except DocumentError as exc:
        raise CommandError(str(exc))
    app_id = api.whoami()["id"]
    answer = api.diff(app_id, plan.text, args.against)
    impact, late = None, None
    if args.impact is not None:
        try:
            impact = _impact(api, app_id, plan.document, args.impact, args.wait)
        except Unfinished as exc:
            late = str(exc)
    print(diff_output.render(answer, plan.path, plan.lines, args.format, args.fail_on, impact))
    if late is not None:
        print(f"lvd: {late}", file=sys.stderr)
        return UNFINISHED
    if args.fail_on == "never":
        return 0
    failing = answer["breaking"] + (answer["additive"] if args.fail_on == "any" else 0)
    return 1 if failing else 0


def push(api: Api, args: argparse.Namespace) -> int:
    """Save the file as the app's next plan version (published with --publish)."""
    try:
        plan = read_plan(args.file)
    except DocumentError as exc:
        raise CommandError(str(exc))
    app_id = api.whoami()["id"]
    saved = api.push(app_id, plan.text, args.publish)
    print(f"Saved {printable(plan.path)} as plan version {saved['version']} ({saved['status']})")
    return 0
