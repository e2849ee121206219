"""Where a JSON pointer (RFC 6901) points in a JSON text: its line, for annotations.

Written by hand because the source-map package on PyPI (json-source-map 1.0.5) joins raw key
text into its pointers: a key holding "/" or "~" is not escaped (`a/b` reads as two levels) and
a key written with a \\u escape is not decoded, so the server's pointers would not be found.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

# A JSON number or literal, as the json module reads them.
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_SPACE = re.compile(r"[ \t\n\r]*")


def escape_token(token: str) -> str:
    """One reference token of a pointer: "~" → "~0", "/" → "~1" (RFC 6901 section 3)."""
    return token.replace("~", "~0").replace("/", "~1")


def pointer(*tokens: str | int) -> str:
    """The pointer to a value from its keys and indexes."""
    return "".join("/" + escape_token(str(token)) for token in tokens)


class SourceMap:
    """The line of every value of a JSON text (an object member: the line of its key)."""

    def __init__(self, text: str) -> None:
        json.loads(text)  # a text that does not parse raises json.JSONDecodeError here
        self._text = text
        self._offsets: dict[str, int] = {}
        self._value(_SPACE.match(text, 0).end(), "")

    def line(self, where: str) -> int:
        """The 1-based line of `where`, or of its nearest ancestor the text has (a removed
        event's pointer lands on its parent), or 1."""
        while where not in self._offsets and where:
            where = where.rsplit("/", 1)[0]
        offset = self._offsets.get(where, 0)
        return self._text.count("\n", 0, offset) + 1

    def _value(self, pos: int, here: str, record: bool = True) -> int:
        """Record the value at `pos` (and those inside it); the offset after it. A member's
        value is not recorded itself: the member points at its key."""
        if record:
            self._offsets[here] = pos  # a repeated key: the last wins, as in json.loads
        char = self._text[pos]
        if char == "{":
            return self._object(pos, here)
        if char == "[":
            return self._array(pos, here)
        if char == '"':
            return scanstring(self._text, pos + 1)[1]
        return _SCALAR.match(self._text, pos).end()

    def _object(self, pos: int, here: str) -> int:
        pos = self._skip(pos + 1)
        if self._text[pos] == "}":
            return pos + 1
        while True:
            key_at = pos
            key, pos = scanstring(self._text, pos + 1)
            member = f"{here}/{escape_token(key)}"
            self._offsets[member] = key_at
            pos = self._skip(self._skip(pos) + 1)  # past the ":"
            pos = self._skip(self._value(pos, member, record=False))
            if self._text[pos] == "}":
                return pos + 1
            pos = self._skip(pos + 1)  # past the ","

    def _array(self, pos: int, here: str) -> int:
        pos = self._skip(pos + 1)
        if self._text[pos] == "]":
            return pos + 1
        index = 0
        while True:
            pos = self._skip(self._value(pos, f"{here}/{index}"))
            index += 1
            if self._text[pos] == "]":
                return pos + 1
            pos = self._skip(pos + 1)

    def _skip(self, pos: int) -> int:
        return _SPACE.match(self._text, pos).end()
