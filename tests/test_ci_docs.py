"""The CI files of docs/ci.md: the page shows them as they are, the GitHub workflow and the GitLab
job validate against their CI systems' schemas, their shell scripts pass shellcheck, and the
example expectations use only the keys the service takes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from check_jsonschema import main as check_jsonschema
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "ci.md"
WORKFLOW = "docs/ci/github-actions.yml"
GITLAB = "docs/ci/gitlab-ci.yml"
EXPECTATIONS = "docs/ci/expectations.yml"
# A fenced block that shows a file: ```yaml file=docs/ci/x.yml ... ```
SHOWN_FILE = re.compile(r"^```\w* file=(\S+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def shown_files() -> dict[str, str]:
    """The files the page shows, by path, as the page shows them."""
    shown: dict[str, str] = {}
    for path, text in SHOWN_FILE.findall(PAGE.read_text()):
        assert path not in shown, f"docs/ci.md shows {path} twice"
        shown[path] = text
    return shown


def test_the_page_shows_each_ci_file_as_it_is():
    shown = shown_files()
    assert sorted(shown) == sorted([WORKFLOW, GITLAB, EXPECTATIONS])
    for path, text in shown.items():
        assert text == (ROOT / path).read_text(), f"docs/ci.md's copy of {path} differs from it"


@pytest.mark.parametrize(
    ("schema", "path"), [("vendor.github-workflows", WORKFLOW), ("vendor.gitlab-ci", GITLAB)]
)
def test_the_ci_file_matches_its_schema(schema, path):
    # The schemas ship with check-jsonschema: nothing is downloaded (a unit test may not connect).
    result = CliRunner().invoke(check_jsonschema, ["--builtin-schema", schema, str(ROOT / path)])
    assert result.exit_code == 0, result.output
    assert "ok -- validation done" in result.output


def shell_scripts() -> list[tuple[str, str]]:
    """Every shell script of the two CI files, named by job and step, expressions blanked."""
    scripts = []
    workflow = yaml.safe_load((ROOT / WORKFLOW).read_text())
    assert workflow["defaults"]["run"]["shell"] == "bash"  # what shellcheck is told below
    for job_name, job in workflow["jobs"].items():
        for number, step in enumerate(job["steps"]):
            if "run" in step:
                # GitHub replaces ${{ … }} before the shell runs; blank it as actionlint does.
                script = EXPRESSION.sub(lambda m: "_" * len(m.group()), step["run"])
                scripts.append((f"{WORKFLOW} {job_name} step {number}", script))
    for job_name, job in yaml.safe_load((ROOT / GITLAB).read_text()).items():
        if isinstance(job, dict) and ("script" in job or "before_script" in job):
            # GitLab runs before_script and script in one shell, line after line.
            lines = job.get("before_script", []) + job.get("script", [])
            scripts.append((f"{GITLAB} {job_name}", "\n".join(lines)))
    return scripts


@pytest.mark.system  # runs shellcheck
def test_every_shell_script_of_the_ci_files_passes_shellcheck(tmp_path):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: `make system-packages` installs it"
    scripts = shell_scripts()
    assert len(scripts) >= 10, scripts  # the steps of both jobs, not a parse that found none
    for name, script in scripts:
        # Both CI systems run the scripts with bash -e -o pipefail (the workflow's `shell: bash`).
        path = tmp_path / "script.sh"
        path.write_text("#!/bin/bash\nset -eo pipefail\n" + script)
        result = subprocess.run(
            [shellcheck, "--severity=style", str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"


# The expectations document of the shared contract (docs/ci.md, "Expectations").
TOP_KEYS = {"expect", "forbid", "order", "only_expected", "allow_invalid", "allow_unplanned"}
EXPECT_KEYS = {"event", "min", "max", "properties"}


def test_the_example_expectations_use_only_the_documented_keys():
    document = yaml.safe_load((ROOT / EXPECTATIONS).read_text())
    assert set(document) <= TOP_KEYS
    expected = []
    for entry in document["expect"]:
        assert set(entry) <= EXPECT_KEYS and isinstance(entry["event"], str), entry
        assert entry.get("min", 1) <= entry.get("max", entry.get("min", 1)), entry
        expected.append(entry["event"])
    # The example contradicts itself nowhere: ordered events are expected, forbidden ones not.
    assert set(document["order"]) <= set(expected)
    assert not set(document["forbid"]) & set(expected)
    for key in ("only_expected", "allow_invalid", "allow_unplanned"):
        assert isinstance(document[key], bool), key
