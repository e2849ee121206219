"""Celery task messages for the Redis broker, rendered without kombu.

`apply_async` costs about 2 ms of CPU per call here (argument reprs, routing, a pooled producer,
a pipeline to Redis), more than all the rest of a request. The message that queues a drain of
the event stream is always alike, so it is rendered once, and the admission script LPUSHes a
copy (with a new id) in the same round trip that admits the request.

The layout is kombu's virtual-transport envelope of Celery's protocol 2, as `apply_async` writes
it, except that the body is plain JSON text instead of base64 (no `body_encoding`, which kombu
reads as "as is"). tests/services/ingestion/test_task_message.py checks it against a real
`apply_async` message and with a real worker.
"""

from __future__ import annotations

import json
import os
import socket
import uuid

# No arguments, no keyword arguments, and no callbacks, chain or chord.
_BODY = '[[],{},{"callbacks":null,"errbacks":null,"chain":null,"chord":null}]'
_ORIGIN = f"gen{os.getpid()}@{socket.gethostname()}"


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


class TaskMessage:
    """Messages calling one task without arguments on one queue; rendered once, and `render()`
    stamps a new id on each copy."""

    def __init__(self, task_name: str, queue: str) -> None:
        headers = {
            "lang": "py",
            "task": task_name,
            "id": _PLACEHOLDER,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": _PLACEHOLDER,
            "parent_id": None,
            "argsrepr": "()",
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        }
        properties = {
            "correlation_id": _PLACEHOLDER,
            "reply_to": None,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            # The broker's ack key: unique per message, as kombu's own tags are.
            "delivery_tag": _PLACEHOLDER,
        }
        message = {
            "body": _BODY,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": properties,
        }
        self.queue = queue
        self._template = json.dumps(message, separators=(",", ":"))

    def render(self) -> str:
        """One message, as kombu's Redis transport stores it, under a new task id."""
        return self._template.replace(_PLACEHOLDER, str(uuid.uuid4()))
