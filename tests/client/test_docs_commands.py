"""Every `lvd` command the CI examples run (docs/ci/*.yml, shown in docs/ci.md) is one the
client accepts: its arguments parsed by the client's own parser, as the job's shell hands them
over (continued lines joined, quoted variables as one word, the shell's redirections cut off)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from lvd.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "docs" / "ci").glob("*.yml"))
# Where a command starts in a job's script: a YAML list item, a `run:` value, or a script line.
START = re.compile(r"^\s*(?:-\s+|run:\s+)?(lvd\s.*)$")
SHELL_ENDS = {"|", ">", ">>", "&&", "||", ";", "2>&1"}


def commands(path: Path) -> list[str]:
    """The `lvd …` command lines of one example, continued lines joined."""
    found, lines = [], path.read_text().splitlines()
    for i, line in enumerate(lines):
        start = START.match(line)
        if not start or line.lstrip().startswith("#"):
            continue
        command = start.group(1)
        while command.endswith("\\"):
            i += 1
            command = command[:-1] + " " + lines[i].strip()
        found.append(command)
    return found


def arguments(command: str) -> list[str]:
    """The words the shell gives `lvd`: an array expansion may be empty, a variable is a word."""
    words = shlex.split(command.replace('"${impact[@]}"', ""))
    cut = next((i for i, word in enumerate(words) if word in SHELL_ENDS), len(words))
    return words[1:cut]


CASES = [(path.name, command) for path in EXAMPLES for command in commands(path)]


def test_the_examples_run_the_client_in_both_ci_systems() -> None:
    assert {name for name, _ in CASES} == {"github-actions.yml", "gitlab-ci.yml"}
    used = {tuple(arguments(command)[:2]) for _, command in CASES}
    assert {("run", "expect"), ("run", "wait"), ("plan", "lint"), ("plan", "diff")} <= used
    assert ("plan", "push") in used


@pytest.mark.parametrize(("example", "command"), CASES)
def test_each_command_of_the_examples_parses(example: str, command: str) -> None:
    options = build_parser().parse_args(arguments(command))  # exits (fails) on a bad option
    assert (options.group, options.command) == tuple(arguments(command)[:2])
