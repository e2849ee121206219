"""`lvd codegen` against a scripted HTTP answer (an in-process server on a free port): the files
land under --out exactly as sent, the request says the language, version and key, and an answer
naming any path that would leave --out (absolute, drive letters, "..", backslashes, NUL, empty
parts, a symbolic link out) is refused with exit 3 before a single file is written.

The real service's answers are exercised by tests/codegen/test_live_typescript.py."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lvd.cli import main

pytestmark = pytest.mark.integration  # an HTTP server in this process, on 127.0.0.1

APP = {"id": 7, "name": "Shop", "plan_version": 3}


@dataclass
class FakeService:
    """What the service answers to the code request, and the requests it got."""

    url: str = ""
    status: int = 200
    answer: Any = None
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def service() -> Iterator[FakeService]:
    state = FakeService()

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            state.requests.append(
                {
                    "method": self.command,
                    "path": parts.path,
                    "query": parse_qs(parts.query),
                    "auth": self.headers.get("Authorization"),
                    "body": self.rfile.read(length).decode() if length else None,
                }
            )
            if parts.path == "/api/app":
                self._reply(200, APP)
            else:
                self._reply(state.status, state.answer)

        do_GET = do_POST = _handle  # noqa: N815 (http.server API)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    # A short poll: shutdown() waits for it, once per test.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def answer(*files: tuple[str, str], version: int | None = 3) -> dict[str, Any]:
    return {
        "language": "typescript",
        "plan_version": version,
        "files": [{"path": path, "content": content} for path, content in files],
    }


def run(service: FakeService, out: Path, *more: str) -> int:
    argv = ["codegen", "--language", "typescript", "--out", str(out), *more]
    return main([*argv, "--url", service.url, "--key", "rk_test"])


def written(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_the_files_are_written_as_sent(service, tmp_path, capsys):
    content = "// generated\r\nexport const x = 'é';\n"
    service.answer = answer(("tracking_plan.ts", content), ("events/nested/a.ts", "a\n"))
    out = tmp_path / "out"
    assert run(service, out, "--version", "3") == 0
    assert written(out) == {
        "tracking_plan.ts": content.encode(),  # line ends and UTF-8 as generated
        "events/nested/a.ts": b"a\n",
    }
    printed = capsys.readouterr().out
    assert printed == f"wrote 2 files to {out} from plan version 3 (typescript)\n"
    request = service.requests[-1]
    assert (request["method"], request["path"]) == ("GET", "/api/apps/7/plan/code")
    assert request["query"] == {"language": ["typescript"], "version": ["3"]}
    assert request["auth"] == "Bearer rk_test"


def test_a_plan_file_is_sent_as_a_draft(service, tmp_path, capsys):
    plan = tmp_path / "plan.json"
    plan.write_text('{"events": {"a": {}}}\n')
    service.answer = answer(("tracking_plan.ts", "x"), version=None)
    assert run(service, tmp_path / "out", str(plan)) == 0
    request = service.requests[-1]
    assert (request["method"], request["path"]) == ("POST", "/api/apps/7/plan/code")
    assert request["query"] == {"language": ["typescript"]}
    assert request["body"] == plan.read_text()
    assert f"from the draft {plan} (typescript)" in capsys.readouterr().out


ESCAPES = [
    "/etc/passwd",
    "../outside.ts",
    "a/../../outside.ts",
    "a/..",
    "..",
    "a\\..\\..\\outside.ts",
    "C:outside.ts",
    "c:/outside.ts",
    "a\x00.ts",
    "",
    "a//b.ts",
    "./a.ts",
    "a/",
    # Not escapes, but no file the service generates looks like these (an outside tester's):
    ".git/hooks/pre-commit",  # a hidden folder: with --out . a hook in the repository
    "x.py:stream",  # an NTFS alternate data stream
    "\u2215..\u2215x.py",  # DIVISION SLASH, a look-alike of "/"
    "a\nb.py",
    "/".join("abcdefghi"),  # deeper than any generated file
]


@pytest.mark.parametrize("path", ESCAPES)
def test_a_path_that_would_leave_the_folder_is_refused_and_nothing_written(
    service, tmp_path, capsys, path
):
    service.answer = answer(("first.ts", "fine"), (path, "evil"))
    out = tmp_path / "deep" / "out"
    assert run(service, out) == 3
    error = capsys.readouterr().err
    assert error.startswith("lvd: error: refusing the file ") and "\x00" not in error
    assert not out.exists()  # the good file before it was not written either
    assert written(tmp_path) == {}


@pytest.mark.parametrize(
    "paths", [("a.ts", "a.ts"), ("a.ts", "a.ts/b.ts"), ("a/b.ts", "a"), ("A.ts", "a.ts")], ids=str
)
def test_files_that_collide_are_refused_and_nothing_written(service, tmp_path, capsys, paths):
    service.answer = answer(*((path, "x") for path in paths))
    assert run(service, tmp_path / "out") == 3
    assert "nothing written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "files",
    [
        None,
        {"a.ts": "x"},
        [{"path": "good.ts", "content": "x"}, {"path": "b.ts", "content": None}],
        [{"path": "good.ts", "content": "x"}, {"path": "b.ts", "content": "\ud800"}],
        [{"path": "good.ts", "content": "x"}, "b.ts"],
    ],
    ids=["null", "object", "null content", "lone surrogate", "not an object"],
)
def test_an_answer_of_another_shape_is_refused_and_nothing_written(
    service, tmp_path, capsys, files
):
    # An outside tester's fake service: these were tracebacks (exit 1), good.ts written.
    service.answer = {"language": "typescript", "plan_version": 3, "files": files}
    assert run(service, tmp_path / "out") == 3
    assert "nothing written" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_file_already_there_is_replaced_not_written_through(service, tmp_path):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere.ts"
    out.mkdir()
    elsewhere.write_text("mine\n")
    (out / "tracking_plan.ts").hardlink_to(elsewhere)
    service.answer = answer(("tracking_plan.ts", "generated\n"))
    assert run(service, out) == 0
    assert (out / "tracking_plan.ts").read_text() == "generated\n"
    assert elsewhere.read_text() == "mine\n"  # the other name of the old file keeps it
    assert sorted(p.name for p in out.iterdir()) == ["tracking_plan.ts"]  # no temporary left


def test_an_empty_out_and_a_version_with_a_plan_file_are_refused(service, tmp_path, capsys):
    argv = ["codegen", "--language", "typescript", "--out", ""]
    assert main([*argv, "--url", service.url, "--key", "rk_test"]) == 3
    assert "--out names the folder" in capsys.readouterr().err
    plan = tmp_path / "plan.json"
    plan.write_text('{"events": {}}')
    assert run(service, tmp_path / "out", str(plan), "--version", "2") == 3
    assert "with a plan file" in capsys.readouterr().err
    assert service.requests == []


def test_a_symbolic_link_out_of_the_folder_is_refused(service, tmp_path, capsys):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "link").symlink_to(elsewhere, target_is_directory=True)
    service.answer = answer(("link/x.ts", "evil"))
    assert run(service, out) == 3
    assert "resolves outside" in capsys.readouterr().err
    assert list(elsewhere.iterdir()) == []


def test_a_path_that_is_not_text_is_refused(service, tmp_path, capsys):
    service.answer = {
        "language": "typescript",
        "plan_version": 3,
        "files": [{"path": 5, "content": ""}],
    }
    assert run(service, tmp_path / "out") == 3
    assert "not a path" in capsys.readouterr().err


def test_the_services_refusal_is_exit_3_with_its_message(service, tmp_path, capsys):
    service.status = 400
    service.answer = {
        "code": "unknown_language",
        "message": "Unknown language 'cobol': one of typescript, python, kotlin, swift.",
    }
    assert run(service, tmp_path / "out") == 3
    error = capsys.readouterr().err
    assert "400 unknown_language" in error and "typescript, python, kotlin, swift" in error
    service.status = 404
    service.answer = {"code": "no_plan", "message": "App 7 has no published plan."}
    assert run(service, tmp_path / "out") == 3
    assert "404 no_plan" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("bad", [["--version", "0"], ["--version", "x"], ["--version", "-1"]])
def test_bad_arguments_are_usage_errors(bad, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["codegen", "--language", "typescript", "--out", "o", *bad])
    assert exited.value.code == 3 and "not a plan version" in capsys.readouterr().err


def test_language_and_out_are_required(capsys):
    for argv in (["codegen", "--out", "o"], ["codegen", "--language", "python"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 3
    assert "required" in capsys.readouterr().err
