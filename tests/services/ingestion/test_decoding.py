"""Strict JSON and capped gzip inflation, shared by request bodies and imported files."""

from __future__ import annotations

import gzip

import pytest

from app.errors import ServiceError
from app.services.ingestion.gzip_data import OverLimit, gunzip_capped, inflate
from app.services.ingestion.json_text import parse_strict_json


@pytest.mark.parametrize("subject", ["body", "line"])
@pytest.mark.parametrize(
    ("raw", "code", "start"),
    [
        (b'{"a": "\xff"}', "invalid_encoding", "is not valid UTF-8"),
        (b'{"a": 1, "a": 2}', "invalid_json", "is not valid JSON: duplicate key 'a'"),
        (b'{"a": NaN}', "invalid_json", "is not valid JSON: NaN is not valid JSON"),
    ],
)
def test_errors_name_what_was_parsed(subject, raw, code, start):
    with pytest.raises(ServiceError) as caught:
        parse_strict_json(raw, subject)
    assert (caught.value.kind, caught.value.code) == ("invalid", code)
    assert caught.value.message.startswith(f"The {subject} {start}")


def test_a_number_too_long_to_parse_is_said_so_without_python_internals():
    with pytest.raises(ServiceError) as caught:
        parse_strict_json(b'{"n": ' + b"1" * 4301 + b"}")
    assert caught.value.code == "invalid_json"
    assert caught.value.message == "The body is not valid JSON: a number has more than 4300 digits."


def test_a_body_or_a_file_may_hold_several_members_but_nothing_else_after_them():
    data = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n') + b"\0" * 8
    assert b"".join(inflate(data, 100, "file", members=True)) == b'{"a": 1}\n{"b": 2}\n'
    assert gunzip_capped(data, 100) == b'{"a": 1}\n{"b": 2}\n'
    with pytest.raises(ServiceError, match="There are bytes after the end of the gzip data"):
        list(inflate(data, 100, "file"))
    with pytest.raises(ServiceError, match="^The body is not valid gzip data"):
        gunzip_capped(data + b"trailing garbage", 100)
    with pytest.raises(ServiceError) as caught:
        gunzip_capped(gzip.compress(b"x" * 60) + gzip.compress(b"y" * 60), 100)
    assert caught.value.code == "payload_too_large"  # the limit counts every member


@pytest.mark.parametrize("members", [False, True])
def test_truncated_corrupt_and_oversized_data(members):
    data = gzip.compress(b"x" * 1000)
    with pytest.raises(ServiceError, match="^The gzip data is truncated.$"):
        list(inflate(data[:-9], 10_000, "file", members=members))
    with pytest.raises(ServiceError, match="^The file is not valid gzip data"):
        list(inflate(b"not gzip", 10_000, "file", members=members))
    with pytest.raises(OverLimit):
        list(inflate(data, 999, "file", members=members, piece=100))
    assert b"".join(inflate(data, 1000, "file", members=members, piece=100)) == b"x" * 1000


def test_a_body_over_the_limit_is_413_naming_it():
    with pytest.raises(ServiceError) as caught:
        gunzip_capped(gzip.compress(b"x" * 101), 100)
    assert (caught.value.status, caught.value.code) == (413, "payload_too_large")
    assert caught.value.message == "The decompressed body is over the 100-byte limit."
