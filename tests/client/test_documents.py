"""Files the client reads before it asks anything (lvd/documents.py): hostile expectations
files are refused with their line, never expanded or parsed to a crash; and output to a reader
that went away ends the command quietly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from lvd.documents import DocumentError, read_expectations

from stack.servers import BIN, ROOT

BOMB = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
expect: [*c, *c, *c, *c, *c, *c, *c, *c, *c]
"""


def _refused(tmp_path: Path, name: str, text: str) -> DocumentError:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(DocumentError) as refused:
        read_expectations(str(path))
    return refused.value


def test_yaml_aliases_are_refused_at_their_line_before_anything_expands(tmp_path):
    refused = _refused(tmp_path, "bomb.yml", BOMB)
    assert (refused.line, refused.message) == (2, "YAML aliases (*name) are not allowed here")


def test_deep_nesting_is_refused_not_a_crash(tmp_path):
    deep = _refused(tmp_path, "deep.yml", "expect: " + "[" * 100_000 + "]" * 100_000)
    assert deep.message == "not valid YAML: nested too deeply"  # at once: nothing built
    shallow = tmp_path / "shallow.yml"
    shallow.write_text("expect: " + "[" * 30 + "]" * 30)
    assert read_expectations(str(shallow)) is not None  # what the service allows still reads
    deep_json = _refused(tmp_path, "deep.json", '{"expect": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert deep_json.message == "not valid JSON: nested too deeply"


def test_a_json_file_is_read_as_json_with_json_messages(tmp_path):
    cut = _refused(tmp_path, "cut.json", '{\n  "expect": ["purchase"\n')
    assert cut.message.startswith("not valid JSON: ") and cut.line == 3
    path = tmp_path / "fine.json"
    path.write_text('{"expect": ["purchase"], "allow_invalid": true}')
    assert read_expectations(str(path)) == {"expect": ["purchase"], "allow_invalid": True}


@pytest.mark.system  # runs the lvd command
def test_a_reader_that_goes_away_ends_the_command_without_a_traceback(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text("{ not json")  # lint reports it without asking the service anything
    proc = subprocess.Popen(
        [str(BIN / "lvd"), "plan", "lint", str(plan), "--url", "http://127.0.0.1:9", "--key", "k"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={"PYTHONPATH": str(ROOT / "client"), "PATH": "/usr/bin:/bin"},
    )
    proc.stdout.close()  # the reader is gone before the first line
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3 and b"Traceback" not in err, err
