"""Files the commands read: a plan (JSON, with the line of every JSON pointer) and an
expectations document (YAML or JSON)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lvd.source_map import SourceMap

# Deeper than any expectations document can be (the service allows 32 levels).
MAX_DEPTH = 64


class DocumentError(Exception):
    """A file that cannot be read or parsed; `line` where the parser stopped, if known."""

    def __init__(self, path: str, message: str, line: int = 1) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.message, self.line = path, message, line


class UnreadableFile(DocumentError):
    """A file that is missing or cannot be read at all (a usage error, not a finding)."""


@dataclass(frozen=True)
class PlanFile:
    """A plan document as read from disk: its text (sent as is), value and source map."""

    path: str
    text: str
    document: dict[str, Any]
    lines: SourceMap


def _read_text(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read the file: {exc.strerror or exc}")
    except UnicodeDecodeError:
        raise DocumentError(path, "the file is not UTF-8 text")


def read_plan(path: str) -> PlanFile:
    """The plan at `path` (a JSON object; DocumentError with the line otherwise)."""
    text = _read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DocumentError(path, f"not valid JSON: {exc.msg}", exc.lineno)
    except RecursionError:
        raise DocumentError(path, "not valid JSON: nested too deeply")
    if not isinstance(document, dict):
        raise DocumentError(path, "a tracking plan is a JSON object")
    return PlanFile(path, text, document, SourceMap(text))


def read_expectations(path: str) -> Any:
    """The expectations document at `path`: JSON for a .json file, else YAML (which includes
    JSON) parsed to plain data. The server checks its fields and names the one at fault."""
    text = _read_text(path)
    if path.endswith(".json"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(path, f"not valid JSON: {exc.msg}", exc.lineno)
        except RecursionError:
            raise DocumentError(path, "not valid JSON: nested too deeply")
    else:
        document = _yaml(path, text)
    if not isinstance(document, dict):
        raise DocumentError(path, "expectations are a mapping (expect:, forbid:, order: …)")
    try:
        json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # YAML dates, sets or .nan have no JSON form: say so here rather than send garbage.
        raise DocumentError(path, f"a value has no JSON form ({exc}); quote it")
    except RecursionError:
        raise DocumentError(path, "nested too deeply")
    return document


def _yaml(path: str, text: str) -> Any:
    """YAML without aliases: a few lines of anchors and aliases can expand to gigabytes (a
    "billion laughs"), and an expectations file has no use for them."""
    try:
        depth = 0
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            line = event.start_mark.line + 1 if event.start_mark else 1
            if isinstance(event, yaml.AliasEvent):
                raise DocumentError(path, "YAML aliases (*name) are not allowed here", line)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:  # before building anything of it, as the JSON reader
                    raise DocumentError(path, "not valid YAML: nested too deeply", line)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise DocumentError(path, f"not valid YAML: {problem}", mark.line + 1 if mark else 1)
    except RecursionError:
        raise DocumentError(path, "not valid YAML: nested too deeply")
