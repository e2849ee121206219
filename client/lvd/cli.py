"""The `lvd` command line: arguments, configuration, and the exit code of every failure."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from lvd import __version__, codegen_command, plan_commands, run_commands
from lvd.api import DEFAULT_URL, Api, ApiError, Unreachable
from lvd.errors import CommandError
from lvd.plan_commands import CONVENTIONS
from lvd.terminal import printable

USAGE_ERROR = 3  # bad arguments, an unreadable file, no answer, or an error status

DESCRIPTION = f"""\
The Live Validation Dashboard's CI client: check a tracking plan kept in your repository, gate a
CI job on the events a test run sent, and generate typed tracking code from the plan.

Configuration: --url or LVD_URL (default {DEFAULT_URL}), --key or LVD_READ_KEY (the app's read
key). Exit codes: 0 success, 1 the check failed, 2 not finished within the time given, 3 usage,
file or connection error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2, which means "not settled" here
        self.print_usage(sys.stderr)
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message}\n")


def _version(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a plan version (a whole number above 0)"
        )
    return int(value)


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number")
    if not 0 < number < 10**7:
        raise argparse.ArgumentTypeError(f"{value!r} must be above 0 and below 10000000")
    return number


MAX_IMPACT_DAYS = 36_500  # a hundred years: more than any service keeps, and a valid date


def _days(value: str) -> float:
    number = _positive(value)
    if number > MAX_IMPACT_DAYS:
        raise argparse.ArgumentTypeError(f"{value!r} days is more than {MAX_IMPACT_DAYS}")
    return number


def _connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("service")
    # SUPPRESS: given after the command it wins, else the value given before it (or none).
    group.add_argument(
        "--url", default=argparse.SUPPRESS, help=f"the service (LVD_URL; default {DEFAULT_URL})"
    )
    group.add_argument("--key", default=argparse.SUPPRESS, help="the app's read key (LVD_READ_KEY)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command."""
    parser = _Parser(
        prog="lvd", description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"lvd {__version__}")
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--key", default=None, help=argparse.SUPPRESS)
    groups = parser.add_subparsers(dest="group", required=True, metavar="{plan,run,codegen}")

    plan = groups.add_parser("plan", help="lint, diff or push a tracking plan file (JSON)")
    plans = plan.add_subparsers(dest="command", required=True, metavar="{lint,diff,push}")

    lint = plans.add_parser(
        "lint",
        help="check names, descriptions, types and enums of a plan file",
        description="Check a plan file with the service's lint rules. Exit 1 on errors "
        '(and on warnings with --strict). Naming conventions come from the plan\'s "lint" '
        "object; the flags override it.",
    )
    lint.add_argument("file", help="the plan document (JSON)")
    lint.add_argument("--format", choices=("text", "json", "github"), default="text")
    lint.add_argument("--event-names", choices=CONVENTIONS, metavar="CONV", help=_conv_help())
    lint.add_argument("--property-names", choices=CONVENTIONS, metavar="CONV")
    lint.add_argument("--strict", action="store_true", help="warnings fail too")
    lint.set_defaults(handler=plan_commands.lint)

    diff = plans.add_parser(
        "diff",
        help="classify the changes of a plan file as breaking or additive",
        description="Compare a plan file with a saved version (default: the published one): "
        "each change is breaking or additive. With --impact DAYS, also re-judge the events "
        "stored in the last DAYS against the file (nothing stored changes) and report which "
        "would change verdict. Exit 1 when changes of the --fail-on kind exist, 2 when the "
        "impact job did not finish within --wait.",
    )
    diff.add_argument("file", help="the plan document (JSON)")
    diff.add_argument("--against", type=int, metavar="V", help="a saved version to compare with")
    diff.add_argument("--format", choices=("text", "json", "markdown", "github"), default="text")
    diff.add_argument(
        "--fail-on",
        choices=("breaking", "any", "never"),
        default="breaking",
        help="default: %(default)s",
    )
    diff.add_argument(
        "--impact", type=_days, metavar="DAYS", help="re-judge the stored events of DAYS days"
    )
    diff.add_argument(
        "--wait",
        type=_positive,
        default=300,
        metavar="S",
        help="seconds to wait for the impact job (default %(default)s)",
    )
    diff.set_defaults(handler=plan_commands.diff)

    push = plans.add_parser(
        "push",
        help="save a plan file as the app's next version",
        description="Save the file as the app's next plan version, a draft unless --publish.",
    )
    push.add_argument("file", help="the plan document (JSON)")
    push.add_argument("--publish", action="store_true", help="validate new events against it")
    push.set_defaults(handler=plan_commands.push)

    run = groups.add_parser("run", help="wait for a test run and check its expectations")
    runs = run.add_subparsers(dest="command", required=True, metavar="{wait,expect}")

    wait = runs.add_parser(
        "wait",
        help="wait until a run's events are stored, then print its verdict",
        description="Set the run's expectations (--expect), wait until every event the service "
        "accepted for the run is stored or dead-lettered (the service holds each request until "
        "then, no polling of fixed sleeps), then print the verdict. Exit 0 passed, 1 failed, "
        "2 not settled within --timeout, 3 usage or connection error.",
    )
    wait.add_argument("run", metavar="RUN", help="the test run's name")
    wait.add_argument("--expect", metavar="FILE", help="expectations (YAML or JSON) to set first")
    wait.add_argument(
        "--timeout", type=_positive, default=300, metavar="S", help="default %(default)s seconds"
    )
    wait.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    wait.add_argument(
        "--markdown", metavar="FILE", help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)"
    )
    wait.add_argument("--format", choices=("text", "json"), default="text")
    wait.add_argument("--close", action="store_true", help="close the run once it settled")
    wait.set_defaults(handler=run_commands.wait)

    expect = runs.add_parser(
        "expect",
        help="set a run's expectations before its tests start",
        description="Set (replace) the expectations of a run, e.g. before the tests start.",
    )
    expect.add_argument("run", metavar="RUN", help="the test run's name")
    expect.add_argument("file", metavar="FILE", help="expectations (YAML or JSON)")
    expect.set_defaults(handler=run_commands.expect)

    codegen = groups.add_parser(
        "codegen",
        help="write typed tracking code of the plan into a folder",
        description="Generate typed tracking functions, one per planned event, from the app's "
        "published plan (or --version, or a plan file sent as a draft) and write them under "
        "--out. Files of the same name are replaced; nothing outside --out is written.",
    )
    codegen.add_argument("plan_file", nargs="?", metavar="PLAN_FILE", help="a plan file (JSON)")
    codegen.add_argument(
        "--language",
        "--lang",
        required=True,
        metavar="L",
        help="typescript, python, kotlin or swift",
    )
    codegen.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    codegen.add_argument(
        "--version", type=_version, metavar="N", help="a saved plan version (default: published)"
    )
    codegen.set_defaults(handler=codegen_command.codegen)

    for leaf in (lint, diff, push, wait, expect, codegen):
        _connection(leaf)
    return parser


def _conv_help() -> str:
    return "naming convention: " + ", ".join(CONVENTIONS)


def _api(args: argparse.Namespace) -> Api:
    url = args.url or os.environ.get("LVD_URL") or DEFAULT_URL
    key = args.key or os.environ.get("LVD_READ_KEY")
    if not key:
        raise CommandError("no read key: pass --key or set LVD_READ_KEY (the app's read key)")
    return Api(url, key)


def _explain(error: ApiError) -> str:
    if error.status == 401:
        return (
            f"the service refused the key (401 {error.code}: {error.message}); pass the app's "
            "read key with --key or LVD_READ_KEY"
        )
    if error.status == 404:
        return f"not found (404 {error.code}): {error.message}"
    return f"the service answered {error.status} {error.code}: {error.message}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code = args.handler(_api(args), args)
        sys.stdout.flush()  # here, where a reader that went away is caught below
        return code
    except BrokenPipeError:
        # The reader went away (`lvd … | head`): nothing more can be said on stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return USAGE_ERROR
    except CommandError as exc:
        message = str(exc)
    except ApiError as exc:
        message = _explain(exc)
    except Unreachable as exc:
        message = f"{exc} (set --url or LVD_URL)"
    except KeyError as exc:
        message = f"the service's answer has no field {exc}: is it older than this client?"
    print(f"lvd: error: {printable(message)}", file=sys.stderr)
    return USAGE_ERROR
