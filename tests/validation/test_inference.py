"""infer_schema / infer_plan: conservative draft-07 proposals from observed samples.

The rules (docs/inference.md): numbers are `number`, never `integer`; a place seen only as null
gets no type; required only after MIN_REQUIRED_SAMPLES objects at a place all had the property;
no enum, pattern, format or bound is ever guessed."""

import json
import random
import string
from typing import Any

import pytest
from jsonschema import Draft7Validator

from app.validation import compile_plan
from app.validation.inference import (
    MAX_DEPTH,
    MAX_PROPERTIES,
    MIN_REQUIRED_SAMPLES,
    infer_plan,
    infer_schema,
)


def accepts_all(schema: dict[str, Any], samples: list[Any]) -> None:
    """Assert schema is a valid draft-07 schema and accepts every sample."""
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema)
    for sample in samples:
        errors = [e.message for e in validator.iter_errors(sample)]
        assert not errors, (sample, errors)


def rejects(schema: dict[str, Any], instance: Any) -> bool:
    return not Draft7Validator(schema).is_valid(instance)


def many(samples: list[Any]) -> list[Any]:
    """The samples repeated until there are enough to make properties required."""
    return samples * -(-MIN_REQUIRED_SAMPLES // len(samples))


def test_flat_types():
    samples = many([{"s": "a", "i": 1, "f": 1.5, "b": True, "n": None, "a": [], "o": {}}])
    schema = infer_schema(samples)
    assert schema == {
        "type": "object",
        "properties": {
            "a": {"type": "array"},
            "b": {"type": "boolean"},
            "f": {"type": "number"},
            "i": {"type": "number"},
            "n": {},
            "o": {"type": "object", "properties": {}},
            "s": {"type": "string"},
        },
        "required": ["a", "b", "f", "i", "n", "o", "s"],
    }
    accepts_all(schema, samples)
    assert rejects(schema, {**samples[0], "i": "1"})
    assert not rejects(schema, {**samples[0], "i": 1.5, "n": "now a string"})
    assert rejects(schema, {**samples[0], "s": 1})


def test_bool_is_boolean_not_integer():
    schema = infer_schema([{"flag": True}, {"flag": False}])
    assert schema["properties"]["flag"] == {"type": "boolean"}
    assert rejects(schema, {"flag": 1})

    mixed = infer_schema([{"x": True}, {"x": 3}])
    assert mixed["properties"]["x"] == {"type": ["boolean", "number"]}
    accepts_all(mixed, [{"x": True}, {"x": 3}])


def test_integer_and_float_merge_to_number():
    samples = [{"price": 3}, {"price": 2.5}, {"price": -1}]
    schema = infer_schema(samples)
    assert schema["properties"]["price"] == {"type": "number"}
    accepts_all(schema, samples)
    # "number" absorbs "integer" inside a type list too.
    schema = infer_schema([{"v": 1}, {"v": 0.5}, {"v": None}])
    assert schema["properties"]["v"] == {"type": ["null", "number"]}


def test_whole_numbers_are_number_never_integer():
    # The reported false failure: price typed integer from 10, 11 and -3 refused a later 19.99.
    schema = infer_schema([{"price": 10}, {"price": 11}, {"price": -3}])
    assert schema["properties"]["price"] == {"type": "number"}
    assert not rejects(schema, {"price": 19.99})
    assert rejects(schema, {"price": "19.99"})
    nested = infer_schema([{"items": [{"qty": 1}, {"qty": 2}]}])
    assert nested["properties"]["items"]["items"]["properties"]["qty"] == {"type": "number"}


def test_a_place_seen_only_as_null_gets_no_type():
    schema = infer_schema(many([{"coupon": None, "tags": [None]}]))
    assert schema["properties"]["coupon"] == {}
    assert schema["properties"]["tags"] == {"type": "array", "items": {}}
    for later in ("SAVE10", 5, None, {"code": "x"}):
        assert not rejects(schema, {"coupon": later, "tags": [later]})
    assert schema["required"] == ["coupon", "tags"]  # present every time, whatever its value


def test_float_alone_is_number_even_when_integral():
    schema = infer_schema([{"v": 2.0}])
    assert schema["properties"]["v"] == {"type": "number"}


def test_null_mixes_into_a_sorted_type_list():
    samples = [{"name": "x"}, {"name": None}]
    schema = infer_schema(samples)
    assert schema["properties"]["name"] == {"type": ["null", "string"]}
    accepts_all(schema, samples)
    assert rejects(schema, {"name": 5})


def test_required_only_when_present_in_every_sample():
    samples = many([{"a": 1, "b": 1, "c": None}, {"a": 2, "c": 1}, {"a": 3, "b": 2, "c": "x"}])
    schema = infer_schema(samples)
    assert schema["required"] == ["a", "c"]
    assert set(schema["properties"]) == {"a", "b", "c"}
    accepts_all(schema, samples)
    assert rejects(schema, {"b": 1, "c": 1})


def test_required_needs_enough_samples():
    few = [{"coupon": "A"}] * (MIN_REQUIRED_SAMPLES - 1)
    assert "required" not in infer_schema(few)
    assert not rejects(infer_schema(few), {})
    assert infer_schema([*few, {"coupon": "B"}])["required"] == ["coupon"]


def test_required_is_omitted_when_no_property_is_always_present():
    schema = infer_schema([{"a": 1}, {"b": 2}])
    assert "required" not in schema
    assert set(schema["properties"]) == {"a", "b"}


def test_nested_objects_recurse_with_their_own_required():
    samples = many(
        [
            {"user": {"id": 1, "address": {"city": "Oslo", "zip": "0150"}}},
            {"user": {"id": 2, "email": "a@b.c", "address": {"city": "Bergen"}}},
        ]
    )
    schema = infer_schema(samples)
    user = schema["properties"]["user"]
    assert user["type"] == "object"
    assert user["required"] == ["address", "id"]
    assert set(user["properties"]) == {"address", "email", "id"}
    address = user["properties"]["address"]
    assert address == {
        "type": "object",
        "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        "required": ["city"],
    }
    accepts_all(schema, samples)
    assert rejects(schema, {"user": {"id": 3, "address": {}}})
    assert rejects(schema, {"user": {"id": "3", "address": {"city": "X"}}})


def test_a_nested_object_seen_few_times_requires_nothing():
    samples = [{"n": i} for i in range(MIN_REQUIRED_SAMPLES)]
    samples.append({"n": 0, "user": {"id": 1}})
    schema = infer_schema(samples)
    assert schema["required"] == ["n"]
    assert schema["properties"]["user"] == {
        "type": "object",
        "properties": {"id": {"type": "number"}},
    }
    assert not rejects(schema, {"n": 1, "user": {}})


def test_object_mixed_with_other_types_still_gets_properties():
    # Enough that the two objects among the three count to MIN_REQUIRED_SAMPLES.
    samples = [{"ctx": None}, {"ctx": {"os": "ios"}}, {"ctx": {"os": "android", "v": 2}}]
    samples *= MIN_REQUIRED_SAMPLES
    schema = infer_schema(samples)
    assert schema["properties"]["ctx"] == {
        "type": ["null", "object"],
        "properties": {"os": {"type": "string"}, "v": {"type": "number"}},
        "required": ["os"],
    }
    accepts_all(schema, samples)
    assert rejects(schema, {"ctx": {"os": 1}})


def test_array_items_merge_every_element_of_every_array():
    samples = many(
        [
            {"items": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2.5}]},
            {"items": [{"sku": "c", "note": None}]},
            {"items": []},
        ]
    )
    schema = infer_schema(samples)
    assert schema["properties"]["items"] == {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "note": {},
                "qty": {"type": "number"},
                "sku": {"type": "string"},
            },
            "required": ["sku"],
        },
    }
    accepts_all(schema, samples)
    assert rejects(schema, {"items": [{"qty": 1}]})


def test_array_of_mixed_scalars():
    samples = [{"tags": ["a", 1]}, {"tags": [None]}]
    schema = infer_schema(samples)
    assert schema["properties"]["tags"] == {
        "type": "array",
        "items": {"type": ["null", "number", "string"]},
    }
    accepts_all(schema, samples)
    assert rejects(schema, {"tags": [True]})


def test_items_omitted_when_every_array_was_empty():
    schema = infer_schema([{"tags": []}, {"tags": []}])
    assert schema["properties"]["tags"] == {"type": "array"}
    accepts_all(schema, [{"tags": ["anything", 1]}])


def test_arrays_of_arrays():
    samples = [{"m": [[1, 2], []]}, {"m": [[0.5]]}]
    schema = infer_schema(samples)
    assert schema["properties"]["m"] == {
        "type": "array",
        "items": {"type": "array", "items": {"type": "number"}},
    }
    accepts_all(schema, samples)


def wrap(levels: int, value: Any) -> Any:
    """Put value that many levels down a chain of {"a": ...}."""
    for _ in range(levels):
        value = {"a": value}
    return value


def nested_objects(levels: int) -> dict[str, Any]:
    return wrap(levels, {"leaf": 1})


def schema_path(schema: dict[str, Any], depth: int, step: str) -> dict[str, Any]:
    for _ in range(depth):
        schema = schema["properties"]["a"] if step == "a" else schema["items"]
    return schema


def test_depth_limit_on_objects():
    sample = nested_objects(MAX_DEPTH + 4)
    schema = infer_schema([sample])
    for depth in range(MAX_DEPTH):
        assert "properties" in schema_path(schema, depth, "a"), depth
    assert schema_path(schema, MAX_DEPTH, "a") == {"type": "object"}
    accepts_all(schema, [sample])
    # Structure just inside the limit is still checked.
    shallow = nested_objects(MAX_DEPTH - 1)
    schema = infer_schema([shallow])
    assert schema_path(schema, MAX_DEPTH - 1, "a")["properties"] == {"leaf": {"type": "number"}}


def test_depth_limit_on_arrays():
    sample: Any = "x"
    for _ in range(MAX_DEPTH + 3):
        sample = [sample]
    schema = infer_schema([{"a": sample}])
    inner = schema_path(schema["properties"]["a"], MAX_DEPTH - 1, "items")
    assert inner == {"type": "array"}
    accepts_all(schema, [{"a": sample}])


def test_depth_limit_keeps_every_type_seen_there():
    samples = [wrap(MAX_DEPTH, {"x": 1}), wrap(MAX_DEPTH, None), wrap(MAX_DEPTH, [1])]
    schema = infer_schema(samples)
    assert schema_path(schema, MAX_DEPTH, "a") == {"type": ["array", "null", "object"]}
    accepts_all(schema, samples)
    assert rejects(schema, wrap(MAX_DEPTH, "x"))


def test_property_cap_keeps_the_first_names_in_sorted_order():
    names = [f"k{i:03d}" for i in range(MAX_PROPERTIES + 50)]
    sample = {name: i for i, name in enumerate(reversed(names))}
    schema = infer_schema(many([sample]))
    kept = names[:MAX_PROPERTIES]
    assert list(schema["properties"]) == kept
    assert schema["required"] == kept
    accepts_all(schema, [sample])


def test_property_cap_counts_names_across_samples():
    names = [f"k{i:03d}" for i in range(MAX_PROPERTIES + 50)]
    late = {name: 1 for name in names[MAX_PROPERTIES:]}
    early = {name: "x" for name in names[:MAX_PROPERTIES]}
    for samples in ([late, early], [early, late]):
        schema = infer_schema(many(samples))
        assert list(schema["properties"]) == names[:MAX_PROPERTIES]
        assert "required" not in schema  # late lacks every kept name
        assert all(p == {"type": "string"} for p in schema["properties"].values())
        accepts_all(schema, samples)


def test_property_cap_applies_to_nested_objects():
    inner = {f"p{i:04d}": i for i in range(MAX_PROPERTIES * 2)}
    schema = infer_schema([{"o": inner}, {"o": [inner]}])
    o = schema["properties"]["o"]
    assert len(o["properties"]) == MAX_PROPERTIES
    assert len(o["items"]["properties"]) == MAX_PROPERTIES
    assert max(o["properties"]) == f"p{MAX_PROPERTIES - 1:04d}"


def test_output_is_deterministic_and_order_independent():
    samples = [
        {"z": 1, "a": [{"y": None}, {"x": True}], "m": {"q": "s"}},
        {"a": [], "m": None, "n": 1.5},
        {"m": {"r": 1, "q": 2}, "z": "t", "a": [3, "u"]},
    ]
    expected = json.dumps(infer_schema(samples))
    rng = random.Random(7)
    for _ in range(10):
        shuffled = [dict(rng.sample(list(s.items()), len(s))) for s in samples]
        rng.shuffle(shuffled)
        assert json.dumps(infer_schema(shuffled)) == expected
    assert json.loads(expected)["properties"]["z"]["type"] == ["number", "string"]


def test_generator_input_is_consumed_once():
    samples = [{"a": 1}, {"a": 2, "b": "x"}]
    assert infer_schema(s for s in samples) == infer_schema(samples)


def test_non_dict_samples_are_ignored():
    schema = infer_schema([None, 3, "x", [{"a": 1}], {"b": True}])
    assert schema == {"type": "object", "properties": {"b": {"type": "boolean"}}}


@pytest.mark.parametrize("samples", [[], [None, 1, []]])
def test_no_object_samples_give_an_open_object_schema(samples):
    schema = infer_schema(samples)
    assert schema == {"type": "object", "properties": {}}
    accepts_all(schema, [{}, {"any": 1}])


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1, 2}, b"x", object(), {"k": {1: "int key"}}],
    ids=["tuple", "set", "bytes", "object", "int-key"],
)
def test_values_that_are_not_json_are_refused(value):
    with pytest.raises(TypeError):
        infer_schema([{"v": value}])


def test_infer_plan_maps_each_event_and_compiles_as_a_plan():
    observed = {
        "purchase": [{"price": 9.99, "currency": "EUR"}, {"price": 5, "currency": "USD"}],
        "login": iter([{"method": "email"}, {"method": "sso", "provider": "okta"}]),
        "empty": [],
    }
    plan = infer_plan(observed)
    assert list(plan) == ["empty", "login", "purchase"]
    assert plan["purchase"]["properties"]["price"] == {"type": "number"}
    assert "required" not in plan["login"]  # two samples are too few
    assert plan["empty"] == {"type": "object", "properties": {}}

    compiled = compile_plan({"events": plan}, version=1)
    assert compiled.validate("purchase", {"price": 1, "currency": "SEK"}).status == "valid"
    assert compiled.validate("login", {"method": "sso", "provider": "x"}).status == "valid"
    assert compiled.validate("purchase", {"price": "1", "currency": "SEK"}).status == "invalid"


# Few names so that samples overlap and properties are sometimes missing.
NAMES = ["a", "b", "é", "$ref", "properties", "type"]


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.choice(["scalar"] * 4 + ["object", "array"] * (depth < 10))
    if kind == "object":
        return {rng.choice(NAMES): random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    if kind == "array":
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return rng.choice(
        [
            None,
            True,
            False,
            rng.randint(-(2**40), 2**40),
            rng.uniform(-1e6, 1e6),
            float(rng.randint(-5, 5)),
            "".join(rng.choices(string.printable, k=rng.randint(0, 6))),
        ]
    )


def random_chain(rng: random.Random) -> Any:
    """A value nested around the depth limit, which random_value alone rarely reaches."""
    value = random_value(rng, 10)
    for _ in range(rng.randint(MAX_DEPTH - 2, MAX_DEPTH + 2)):
        value = [value] if rng.random() < 0.5 else {rng.choice(NAMES): value}
    return value


def random_sample(rng: random.Random) -> dict[str, Any]:
    sample = {rng.choice(NAMES): random_value(rng, 1) for _ in range(rng.randint(0, 5))}
    if rng.random() < 0.3:
        sample[rng.choice(NAMES)] = random_chain(rng)
    return sample


@pytest.mark.parametrize("seed", range(200))
def test_random_samples_all_validate_against_their_schema(seed):
    rng = random.Random(seed)
    samples = [random_sample(rng) for _ in range(rng.randint(1, 4))]
    samples *= rng.choice([1, MIN_REQUIRED_SAMPLES])
    schema = infer_schema([*samples, "ignored", None])
    accepts_all(schema, samples)
    assert schema["type"] == "object"
    assert set(schema["properties"]) == set().union(*samples)
    always = set.intersection(*(set(s) for s in samples))
    expected = sorted(always) if len(samples) >= MIN_REQUIRED_SAMPLES else []
    assert schema.get("required", []) == expected
    assert json.dumps(infer_schema(reversed(samples))) == json.dumps(schema)
