"""`shown()`: how violations and inference samples show a value sent by any holder of a write
key. It must never fail, whatever the JSON (an outside tester's 205-character property name made
it raise), and what it returns is bounded."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation.violations import shown

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: (
        st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=300), inner, max_size=8)
    ),
    max_leaves=40,
)


@settings(max_examples=300, derandomize=True)
@given(JSON, st.integers(min_value=0, max_value=2_000))
def test_any_json_is_shown_bounded_whatever_the_budget(value, budget):
    text = json.dumps(shown(value, budget), ensure_ascii=False)
    assert len(text) < 5_000 + budget


def test_names_alone_over_the_budget():
    name = "k" * 250
    assert shown({name: 1}, 200) == {name[:200] + "…": 1}
