"""Which observed names plan inference adds without being asked, and how names are shown."""

from __future__ import annotations

import pytest

from app.validation.event_names import MAX_PLAUSIBLE_LENGTH, plausible_event_name, shown_name


@pytest.mark.parametrize(
    "name",
    [
        "purchase",
        "Order Completed",
        "screen:home",
        "checkout/step-2",
        "app.opened_v2",
        "Kauf_abgeschlössen",
        "購入完了",
        "cafe\u0301 visited",  # a combining accent
        "404",
        "x" * MAX_PLAUSIBLE_LENGTH,
    ],
)
def test_plausible_names(name):
    assert plausible_event_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "<img src=x onerror=alert(1)>",
        "<script>",
        "a\x00b",
        "line\nbreak",
        "tab\there",
        "zero\u200bwidth",
        "",
        " ",
        "   \t",
        " purchase",
        "purchase ",
        "x" * (MAX_PLAUSIBLE_LENGTH + 1),
        "a.-/:_",  # mostly punctuation
        "---",
        "' OR 1=1 --",
        'say "hi"',
        "price$",
    ],
)
def test_implausible_names(name):
    assert not plausible_event_name(name)


def test_half_letters_is_enough():
    assert plausible_event_name("a.b")
    assert plausible_event_name("ab-.")
    assert not plausible_event_name("a-.")


def test_shown_name_makes_invisible_characters_visible_and_cuts_long_names():
    assert shown_name("a\x00b\nc\u200bd") == "a\\x00b\\nc\\u200bd"
    assert shown_name("<img src=x>") == "<img src=x>"  # still text: the template escapes it
    assert shown_name("x" * 101) == "x" * 100 + "…"
    assert shown_name("x" * 100) == "x" * 100
    assert shown_name("   ") == '"   "'
    assert shown_name(" a b  ") == '" a b  "'
    assert shown_name("") == '""'
    assert shown_name("a b") == "a b"
    assert shown_name("tab\there\u00a0") == "tab\\there\\xa0"
