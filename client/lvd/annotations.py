"""GitHub Actions workflow commands (`::error file=…,line=…,title=…::message`).

Escaping as the Actions runner reads them (actions/toolkit, packages/core/src/command.ts,
escapeData and escapeProperty): in the message "%", CR and LF; in a property also ":" and ",".
"""

from __future__ import annotations

LEVELS = ("error", "warning", "notice")


def escape_data(text: str) -> str:
    """The message part of a workflow command."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A property value (file, title) of a workflow command."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str, line: int, title: str) -> str:
    """One annotation line: `::error file=F,line=N,title=T::message`."""
    if level not in LEVELS:
        raise ValueError(f"unknown annotation level {level!r}")
    properties = f"file={escape_property(file)},line={int(line)},title={escape_property(title)}"
    return f"::{level} {properties}::{escape_data(message)}"
