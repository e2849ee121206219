"""A real SMTP server for the tests that send mail."""

from __future__ import annotations

import threading
from email import message_from_bytes
from email.message import Message

from aiosmtpd.controller import Controller

from stack.servers import free_port


class SmtpSink:
    """A real SMTP server on a free port that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.received = threading.Condition()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.url = f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        with self.received:
            self.messages.append(message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        """Block until `count` messages arrived (or fail)."""
        with self.received:
            if not self.received.wait_for(lambda: len(self.messages) >= count, timeout):
                raise AssertionError(f"{len(self.messages)} of {count} mails arrived")
        return self.messages
