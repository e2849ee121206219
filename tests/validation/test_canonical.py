import hashlib
import json
import math

import pytest

from app.validation import canonical_json, payload_hash


def test_canonical_json_is_key_order_independent_and_compact():
    a = {"b": 1, "a": {"y": [1, 2], "x": None}}
    b = {"a": {"x": None, "y": [1, 2]}, "b": 1}
    assert canonical_json(a) == canonical_json(b) == '{"a":{"x":null,"y":[1,2]},"b":1}'


def test_canonical_json_keeps_unicode_unescaped():
    assert canonical_json({"name": "café ☕"}) == '{"name":"café ☕"}'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, {"x": [math.nan]}])
def test_canonical_json_rejects_non_finite_numbers(bad):
    with pytest.raises(ValueError):
        canonical_json(bad)


def test_payload_hash_is_sha256_of_canonical_utf8():
    obj = {"é": 1, "a": [True, None]}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert payload_hash(obj) == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_payload_hash_is_lowercase_hex_and_order_independent():
    h = payload_hash({"a": 1, "b": 2})
    assert h == payload_hash({"b": 2, "a": 1})
    assert len(h) == 64 and h == h.lower() and int(h, 16) >= 0
    assert h != payload_hash({"a": 1, "b": 3})


def test_payload_hash_rejects_nan():
    with pytest.raises(ValueError):
        payload_hash({"x": math.nan})
