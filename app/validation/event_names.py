"""Which observed event names look like event names, and how to show any name as plain text.

Any non-empty string is a valid event name (names are data), but plan inference adds only the
plausible ones unless a user picks the others by name. A name is plausible when:

* it is 1 to ``MAX_PLAUSIBLE_LENGTH`` characters long;
* every character is a letter, a digit, a combining mark, a space or one of ``_ - . : /``;
* it does not start or end with a space;
* at least half of its characters are letters or digits.

So ``Order Completed``, ``screen:home``, ``checkout/step-2`` and ``Kauf_abgeschlossen`` are
plausible; markup (``<img src=x onerror=...>``), control characters, quotes, whitespace-only
names, names of mostly punctuation and names over 100 characters are not.
"""

from __future__ import annotations

import unicodedata

MAX_PLAUSIBLE_LENGTH = 100
PUNCTUATION = frozenset(" _-.:/")
# How many characters of a name are shown before it is cut with "…".
SHOWN_NAME_CHARS = 100


def plausible_event_name(name: str) -> bool:
    """Whether `name` looks like an event name (the rule is in the module's docstring)."""
    if not 1 <= len(name) <= MAX_PLAUSIBLE_LENGTH or name != name.strip(" "):
        return False
    letters = 0
    for char in name:
        category = unicodedata.category(char)
        if category[0] in "LN":
            letters += 1
        elif category[0] != "M" and char not in PUNCTUATION:
            return False
    return letters * 2 >= len(name)


def shown_name(name: str) -> str:
    """The name for display: control and other invisible characters as escapes (``\\x07``,
    ``\\u200b``), cut to SHOWN_NAME_CHARS characters with "…", in double quotes when it starts or
    ends with a space (or is empty). Still text: escape it for HTML and keep its spaces."""
    out = []
    for char in name[:SHOWN_NAME_CHARS]:
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"):
            out.append(" " if char == " " else char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    text = "".join(out) + ("…" if len(name) > SHOWN_NAME_CHARS else "")
    # Spaces at the ends (or a name of spaces only) would be invisible: quote the name.
    return f'"{text}"' if text != text.strip(" ") or not text else text
