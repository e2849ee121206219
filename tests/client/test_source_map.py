"""JSON pointers (RFC 6901) to lines of a plan file, for annotations."""

from __future__ import annotations

import json

import pytest
from lvd.source_map import SourceMap, pointer

TEXT = """{
  "events": {
    "Order Completed": {
      "properties": {
        "price": {"type": "number"},
        "items": [
          {"sku": 1},
          {"sku": 2}
        ]
      }
    },
    "a/b~c": {},
    "caf\\u00e9": {"x": true},
    "dup": 1,
    "dup": {"late": null}
  },
  "lint": {"event_names": "Object Action"}
}
"""


@pytest.mark.parametrize(
    ("where", "line"),
    [
        ("", 1),
        ("/events", 2),
        ("/events/Order Completed", 3),
        ("/events/Order Completed/properties/price", 5),
        ("/events/Order Completed/properties/price/type", 5),
        ("/events/Order Completed/properties/items/1", 8),
        ("/events/Order Completed/properties/items/1/sku", 8),
        ("/events/a~1b~0c", 12),  # "/" and "~" escaped as the RFC says
        ("/events/café/x", 13),  # a key written with a \\u escape
        ("/events/dup/late", 15),  # a repeated key: the last, as json.loads keeps it
        ("/lint/event_names", 17),
        ("/events/Signup", 2),  # not in the file (a removed event): its parent
        ("/events/Order Completed/properties/currency/type", 4),
        ("/nothing/at/all", 1),
    ],
)
def test_line_of_a_pointer(where, line):
    assert SourceMap(TEXT).line(where) == line


def test_pointer_escapes_tokens():
    assert pointer("events", "a/b~c", 0) == "/events/a~1b~0c/0"


def test_every_value_of_a_document_has_its_own_line():
    document = {"events": {f"e{i}": {"properties": {"p": {"type": "string"}}} for i in range(5)}}
    text = json.dumps(document, indent=2)
    lines = SourceMap(text)
    for i in range(5):
        where = f"/events/e{i}/properties/p/type"
        assert text.splitlines()[lines.line(where) - 1].strip() == '"type": "string"'


def test_a_text_that_is_not_json_is_refused():
    with pytest.raises(json.JSONDecodeError):
        SourceMap('{"a": }')
