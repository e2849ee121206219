"""`lvd run wait` and `lvd run expect`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lvd import junit, polling, run_markdown, run_text
from lvd.api import Api, ApiError
from lvd.documents import DocumentError, read_expectations
from lvd.errors import CommandError
from lvd.outcome import UNSETTLED, Outcome
from lvd.terminal import printable


def _put_expectations(api: Api, run: str, path: str) -> dict:
    try:
        document = read_expectations(path)
    except DocumentError as exc:
        raise CommandError(str(exc))
    try:
        return api.put_expectations(run, document)
    except ApiError as exc:
        if exc.status == 400:  # the service names the field at fault
            raise CommandError(f"{path}: {exc.message}")
        raise


def _unknown_run(run: str) -> CommandError:
    return CommandError(
        f"the service knows no test run {run!r}: it accepted no event of it and it has no "
        "expectations (do the tests send the run's name in X-Test-Run or context.testRun, "
        "to this service?)"
    )


def wait(api: Api, args: argparse.Namespace) -> int:
    """Exit 0 passed, 1 failed, 2 not settled within --timeout."""
    app_id = api.whoami()["id"]
    if args.expect:
        _put_expectations(api, args.run, args.expect)
    started = time.monotonic()
    try:
        report, settled = polling.until(
            lambda deadline: api.run_report(args.run, deadline),
            lambda r: r["settlement"]["settled"],
            started + args.timeout,
        )
        if settled and args.close:
            api.close_run(args.run)
            report = api.run_report(args.run, time.monotonic())  # now with closed_at
    except ApiError as exc:
        if exc.status == 404 and exc.code == "not_found":
            raise _unknown_run(args.run)
        raise
    outcome = Outcome(report, api.run_page(app_id, args.run), time.monotonic() - started)
    if args.junit:
        _write(args.junit, junit.render(outcome), append=False)
    if args.markdown:
        # Appended: $GITHUB_STEP_SUMMARY collects what each command of a step adds.
        _write(args.markdown, run_markdown.render(outcome).encode(), append=True)
    if args.format == "json":
        print(run_text.render_json(outcome))
    else:
        print(run_text.render_text(outcome))
    if outcome.exit_code == UNSETTLED:
        print(f"lvd: run {printable(args.run)}: {outcome.pending_message()}", file=sys.stderr)
    return outcome.exit_code


def _write(path: str, data: bytes, append: bool) -> None:
    try:
        with Path(path).open("ab" if append else "wb") as file:
            file.write(data)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}")


def expect(api: Api, args: argparse.Namespace) -> int:
    """Set the run's expectations (before its tests start); exit 0 when the service took them."""
    answer = _put_expectations(api, args.run, args.file)
    print(f"Expectations set for test run {printable(answer['test_run'])}")
    return 0
