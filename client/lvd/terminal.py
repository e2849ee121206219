"""Text for a terminal or CI log: user strings (event names, messages) with their control
characters shown as escapes, so a hostile name cannot move the cursor, colour the log or
start a line that a CI system reads as a command."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: object) -> str:
    """`text` with control characters (newlines too) written as \\n, \\x1b, \\u2028 …"""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))


def plural(count: int, word: str, words: str | None = None) -> str:
    """ "1 event", "3 events" (`words`: an irregular plural)."""
    return f"{count} {word if count == 1 else words or word + 's'}"
