"""The drain message the admission script queues is the message `apply_async` would send."""

from __future__ import annotations

import json

import redis

from app.services.ingestion.task_message import TaskMessage
from app.tasks.events import drain_events
from tests.helpers import message_args


def test_rendered_message_has_the_layout_of_apply_async(full_app):
    with full_app.app_context():
        drain_events.apply_async(queue="scratch")
    with redis.Redis.from_url(full_app.config["REDIS_URL"]) as client:
        real = json.loads(client.rpop("scratch"))
    ours = json.loads(TaskMessage("app.tasks.events.drain_events", "scratch").render())
    assert set(ours) == set(real)
    assert set(ours["headers"]) == set(real["headers"])
    assert set(ours["properties"]) - {"body_encoding"} == set(real["properties"]) - {
        "body_encoding"
    }
    assert "body_encoding" not in ours["properties"]  # a plain JSON body, read as is
    for key in ("task", "retries", "timelimit", "ignore_result", "kwargsrepr"):
        assert ours["headers"][key] == real["headers"][key]
    assert ours["properties"]["delivery_info"] == real["properties"]["delivery_info"]
    assert message_args(ours) == message_args(real) == []


def test_every_rendered_message_has_its_own_id_and_delivery_tag():
    template = TaskMessage("app.tasks.events.drain_events", "default")
    first, second = (json.loads(template.render()) for _ in range(2))
    assert first["headers"]["id"] != second["headers"]["id"]
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]
    assert first["headers"]["id"] == first["properties"]["correlation_id"]
