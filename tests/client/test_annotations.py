"""GitHub workflow commands: escaping as the Actions runner reads them (actions/toolkit,
packages/core/src/command.ts: escapeData for the message, escapeProperty for properties)."""

from __future__ import annotations

import pytest
from lvd.annotations import annotation, escape_data, escape_property


def test_message_escapes_percent_and_line_breaks_only():
    assert escape_data("100% sure\r\nnext: a, b") == "100%25 sure%0D%0Anext: a, b"


def test_properties_also_escape_colon_and_comma():
    assert escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


def test_an_annotation_line():
    line = annotation(
        "error",
        "Event name\n::warning::injected",
        file="plans/a,b:c.json",
        line=12,
        title="event-name-case",
    )
    assert line == (
        "::error file=plans/a%2Cb%3Ac.json,line=12,title=event-name-case"
        "::Event name%0A::warning::injected"
    )
    assert "\n" not in line


def test_unknown_level_is_refused():
    with pytest.raises(ValueError):
        annotation("fatal", "m", file="f", line=1, title="t")
