"""JSON Schema `pattern`s judged by RE2, a linear-time engine, instead of Python's `re`.

Python's `re` backtracks: `^(a+)+$` against 26 `a`s and a `b` takes seconds and holds the GIL,
so one plan could stall every tenant of the process. RE2 runs in time linear in the input, and
refuses what it cannot run that way (backreferences, lookaround), which plans are then refused
for at save time.

JSON Schema patterns are ECMA-262 regular expressions, searched (not anchored). RE2's syntax is
close: `$` is the end of the input (as in ECMA, unlike `re`, where it also matches before a final
newline) and `\\d`, `\\w` are ASCII. Differences kept: `\\s` is ASCII whitespace only and `.`
excludes only `\\n`. ECMA's `\\uXXXX` escapes are rewritten to RE2's `\\x{XXXX}`.
"""

from __future__ import annotations

from functools import lru_cache

import re2

# Memory RE2 may use for one pattern: its program and the DFA cache built while matching.
# A pattern needing more is refused; a search that fills the cache falls back to RE2's NFA
# (still linear). 1 MiB fits every realistic pattern measured (loadtests/RESULTS.md).
MAX_PATTERN_MEMORY = 1 << 20
# Linear is not free: when a pattern's DFA outgrows its memory RE2 falls back to its NFA, whose
# cost is (input length x program size). Capping the program bounds one 32 KB string to ~0.15 s
# of CPU for the costliest pattern found (benchmarks/patterns.py), and RE2 releases the GIL while
# it runs. Realistic patterns fit: `^.{1,255}$` is ~2,300 instructions, a UUID's 70.
MAX_PATTERN_INSTRUCTIONS = 2_500

_OPTIONS = re2.Options()
_OPTIONS.max_mem = MAX_PATTERN_MEMORY
_OPTIONS.never_capture = True  # a yes/no search: no submatches to track, the fastest engine
_OPTIONS.log_errors = False  # errors are reported to the plan's author, not to stderr
_HEX = frozenset("0123456789abcdefABCDEF")


class PatternError(ValueError):
    """A pattern the linear-time engine cannot run; the message says why."""


class LinearPattern:
    """A compiled pattern; `search` says whether it matches anywhere in a string."""

    __slots__ = ("_regex", "pattern")

    def __init__(self, pattern: str, regex: re2._Regexp) -> None:
        self.pattern = pattern
        self._regex = regex

    def search(self, text: str) -> bool:
        """Whether the pattern matches somewhere in text (ECMA-262 `RegExp.test`)."""
        # Bytes in, so RE2 reports byte offsets and nothing maps them back to characters.
        # surrogatepass: a lone surrogate (valid in a JSON string) must not raise.
        return self._regex.search(text.encode("utf-8", "surrogatepass")) is not None

    def __repr__(self) -> str:
        return f"LinearPattern({self.pattern!r})"


@lru_cache(maxsize=4096)
def compile_pattern(pattern: str) -> LinearPattern:
    """The pattern compiled by RE2 (cached); PatternError when RE2 cannot run it."""
    try:
        regex = re2.compile(_to_re2(pattern), _OPTIONS)
    except re2.error as exc:
        raise PatternError(_reason(exc)) from None
    except UnicodeEncodeError:
        raise PatternError("it contains a lone surrogate character") from None
    if regex.programsize > MAX_PATTERN_INSTRUCTIONS:
        raise PatternError(
            f"it compiles to {regex.programsize} instructions, more than the "
            f"{MAX_PATTERN_INSTRUCTIONS} allowed (large counted repetitions such as .{{0,1000}} "
            "cost the most)"
        )
    return LinearPattern(pattern, regex)


def is_linear_regex(text: object) -> bool:
    """The `regex` format: whether text is a pattern RE2 can run (non-strings pass)."""
    if not isinstance(text, str):
        return True
    try:
        compile_pattern(text)
    except PatternError:
        return False
    return True


def _to_re2(pattern: str) -> str:
    """Rewrite ECMA's \\uXXXX escapes (a surrogate pair as one code point) as \\x{XXXX}."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char != "\\" or i + 1 >= n:
            out.append(char)
            i += 1
            continue
        code = _hex4(pattern, i)
        if code is None:  # another escape, copied whole: an escaped backslash stays one
            out.append(pattern[i : i + 2])
            i += 2
            continue
        i += 6
        low = _hex4(pattern, i)
        if 0xD800 <= code < 0xDC00 and low is not None and 0xDC00 <= low < 0xE000:
            code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
            i += 6
        out.append(f"\\x{{{code:X}}}")
    return "".join(out)


def _hex4(pattern: str, i: int) -> int | None:
    """The code of a \\uXXXX escape starting at i, else None."""
    digits = pattern[i + 2 : i + 6]
    if pattern[i + 1 : i + 2] == "u" and len(digits) == 4 and set(digits) <= _HEX:
        return int(digits, 16)
    return None


def _reason(exc: re2.error) -> str:
    detail = exc.args[0] if exc.args else exc
    if isinstance(detail, bytes):
        detail = detail.decode("utf-8", "replace")
    detail = str(detail)
    construct = None
    if detail.startswith(("invalid perl operator: (?=", "invalid perl operator: (?!")):
        construct = "lookahead"
    elif detail.startswith("invalid perl operator: (?<") and detail[26:27] in ("=", "!"):
        construct = "lookbehind"
    elif any(detail.startswith(f"invalid escape sequence: \\{d}") for d in "123456789"):
        construct = "a backreference"
    if construct:
        return (
            f"it uses {construct}, a construct the linear-time regular expression engine "
            f"cannot run ({detail})"
        )
    if "pattern too large" in detail:
        return (
            f"it needs more than the {MAX_PATTERN_MEMORY // 1024} KiB a pattern may use "
            "(large counted repetitions cost the most)"
        )
    return f"it is not a regular expression the linear-time engine can run ({detail})"
