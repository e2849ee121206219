"""Markdown for GitHub (step summaries, PR comments): user strings escaped so that a hostile
event name cannot end a table cell, open HTML, make a link or mention someone."""

from __future__ import annotations

import re

# Every ASCII punctuation character CommonMark lets a backslash escape, but for those HTML
# escaping handles ("&", "<", ">") and "@" (below).
_PUNCTUATION = re.compile(r"([!\"#$%'()*+,\-./:;=?\[\\\]^_`{|}~])")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def escape(text: object) -> str:
    """Plain text for a Markdown paragraph or table cell: HTML characters as entities, Markdown
    punctuation (the cell separator "|" too) backslash-escaped, line breaks as <br>, "@" kept
    from mentioning by a zero-width space after it."""
    value = _CONTROL.sub("\N{REPLACEMENT CHARACTER}", str(text))
    value = _PUNCTUATION.sub(r"\\\1", value)  # before the entities, whose "&#;" stay as they are
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace("@", "@&#8203;")
    return _LINE_BREAKS.sub("<br>", value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a table; cells are already Markdown (escape user text first)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell or " " for cell in row) + " |" for row in rows]
    return lines


def link(text: str, url: str) -> str:
    """A link to a URL this client built (the service's base URL and a quoted run name)."""
    target = url.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
    return f"[{escape(text)}]({target})"
