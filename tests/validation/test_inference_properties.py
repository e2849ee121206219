"""Properties of plan inference, checked with Hypothesis through the service's own validator
(compile_plan), not only a reference one:

* a plan inferred from samples judges every one of them valid;
* it does not narrow numbers: each sample with any number swapped for any other finite number
  (10 → 19.99, the reported false failure) is still valid;
* from fewer than MIN_REQUIRED_SAMPLES samples it requires nothing: each sample with any one
  property left out is still valid.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.validation import VALID, compile_plan
from app.validation.inference import MIN_REQUIRED_SAMPLES, infer_plan

NAMES = st.sampled_from(["a", "b", "price", "é", "$ref", "type", "properties"])
NUMBERS = st.one_of(st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=12,
)
SAMPLES = st.lists(st.dictionaries(NAMES, VALUES, max_size=4), min_size=1, max_size=6)


def _judge(samples: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[str]:
    plan = compile_plan({"events": infer_plan({"e": samples})}, version=1)
    return [plan.validate("e", event).status for event in events]


def _swap_numbers(value: Any, replacement: float) -> Any:
    """The value with every number (not boolean) replaced by `replacement`."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return replacement
    if isinstance(value, list):
        return [_swap_numbers(item, replacement) for item in value]
    return {key: _swap_numbers(item, replacement) for key, item in value.items()}


@settings(max_examples=80, deadline=None)
@given(SAMPLES)
def test_a_plan_accepts_every_sample_it_was_inferred_from(samples):
    assert set(_judge(samples, samples)) == {VALID}


@settings(max_examples=80, deadline=None)
@given(SAMPLES, st.floats(allow_nan=False, allow_infinity=False))
def test_numbers_are_never_narrowed(samples, replacement):
    swapped = [_swap_numbers(sample, replacement) for sample in samples]
    assert set(_judge(samples, swapped)) == {VALID}


@settings(max_examples=80, deadline=None)
@given(SAMPLES.filter(lambda samples: len(samples) < MIN_REQUIRED_SAMPLES))
def test_few_samples_require_nothing(samples):
    shorter = [
        {k: v for k, v in sample.items() if k != left_out}
        for sample in samples
        for left_out in sample
    ]
    assert set(_judge(samples, shorter or [{}])) == {VALID}
