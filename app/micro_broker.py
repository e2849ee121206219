"""Micro's broker: kombu's filesystem transport, made safe against torn files and crashes.

kombu's own filesystem transport creates a message file before writing it, so a consumer can
read it half-written, fail to parse it and stop the worker for good; and it deletes a file as it
hands the message out, so a process killed before the task finished loses it, whatever
`acks_late` says. This one:

- writes a message under `tmp/` and renames it into the queue folder: it appears whole or not
  at all;
- takes a message by renaming it into `unacked/`, and deletes it only when the task is
  acknowledged; a rejected (requeued) or restored message is renamed back, and whatever a killed
  process left in `unacked/` goes back to the queue on the next start (`recover`);
- moves a file that is not a message to `bad/` with an error line, instead of raising it into
  the worker.

A message file is `<nanoseconds>_<uuid>.<queue>.msg`, so names sort oldest first. Files are 0600
and folders 0700: messages carry events and account mail.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import deque
from pathlib import Path
from queue import Empty
from typing import Any

from kombu.transport import filesystem, virtual
from kombu.utils.json import dumps, loads

from app.private_files import FILE_MODE, private_folder

log = logging.getLogger(__name__)
TRANSPORT = "app.micro_broker:Transport"
SUFFIX = ".msg"
# A file under tmp/ this old belongs to a publisher that died mid-write (it was never answered).
STALE_TMP_SECONDS = 60
# A consumer reads the folder at most this often while the queue it polls looks empty: a new
# message may wait this much longer, and a backlog of thousands costs a few listings a second.
LIST_INTERVAL_SECONDS = 0.2


def _subfolders(folder: Path) -> tuple[Path, Path, Path]:
    return folder / "tmp", folder / "unacked", folder / "bad"


def make_folders(folder: Path) -> None:
    """The broker folder and its subfolders, private to this user."""
    for path in (folder, *_subfolders(folder)):
        private_folder(path)


def recover(folder: Path) -> int:
    """Hand back to their queues the messages a stopped consumer took but never acknowledged.

    Call it only while no consumer runs on `folder` (micro has one, in its own process).
    Returns how many came back.
    """
    tmp, unacked, _ = _subfolders(folder)
    returned = 0
    for path in sorted(unacked.glob(f"*{SUFFIX}")):
        try:
            os.replace(path, folder / path.name)
            returned += 1
        except FileNotFoundError:
            pass  # acknowledged or handed back meanwhile
    stale = time.time() - STALE_TMP_SECONDS
    for path in tmp.iterdir():
        try:
            if path.stat().st_mtime < stale:
                path.unlink()
        except FileNotFoundError:
            pass
    if returned:
        log.warning("broker: %d unacknowledged message(s) handed back to their queues", returned)
    return returned


class QoS(virtual.QoS):
    """Acknowledging a message deletes its file; rejecting it without requeue too."""

    def ack(self, delivery_tag: str) -> None:
        self.channel.forget(delivery_tag)
        super().ack(delivery_tag)

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if not requeue:
            self.channel.forget(delivery_tag)
        super().reject(delivery_tag, requeue)  # requeue: Channel._restore_at_beginning


class Channel(filesystem.Channel):
    """Messages appear whole, and stay on disk until acknowledged."""

    QoS = QoS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.folder = Path(self.data_folder_in)
        self.tmp, self.unacked, self.bad = _subfolders(self.folder)
        self._taken: dict[str, Path] = {}  # delivery tag → its file in unacked/
        self._listed: dict[str, deque[str]] = {}  # queue → names seen, not yet taken
        self._listed_at = -LIST_INTERVAL_SECONDS

    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:
        name = f"{time.time_ns():020d}_{uuid.uuid4()}.{queue}{SUFFIX}"
        temporary = self.tmp / name
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(dumps(payload).encode())
        # Process crashes are what micro survives (SQLite runs with synchronous=NORMAL too), so
        # no fsync: the kernel has the bytes once write() returned.
        os.replace(temporary, self.folder / name)

    def _list(self) -> None:
        """Read the folder once for every queue, oldest message first."""
        listed: dict[str, deque[str]] = {}
        for name in sorted(os.listdir(self.folder)):
            if name.endswith(SUFFIX):
                listed.setdefault(name[: -len(SUFFIX)].rpartition(".")[2], deque()).append(name)
        self._listed, self._listed_at = listed, time.monotonic()

    def _get(self, queue: str) -> dict[str, Any]:
        # One listing serves many gets, of every queue: listing a folder of thousands of
        # messages for each get, or for each empty queue the worker polls in between, would cost
        # more than storing the event. A new message waits at most LIST_INTERVAL_SECONDS more.
        if not self._listed.get(queue) and (
            time.monotonic() - self._listed_at >= LIST_INTERVAL_SECONDS
        ):
            self._list()
        listed = self._listed.get(queue)
        while listed:
            name = listed.popleft()
            taken = self.unacked / name
            try:
                os.replace(self.folder / name, taken)
            except FileNotFoundError:
                continue  # taken by another consumer, or purged
            payload = self._read(taken)
            if payload is not None:
                self._taken[payload["properties"]["delivery_tag"]] = taken
                return payload
        raise Empty()

    def _read(self, path: Path) -> dict[str, Any] | None:
        """The message in `path`, or None after moving an unreadable file to bad/."""
        try:
            payload = loads(path.read_bytes())
            self.Message(payload, channel=self)  # the worker builds one: it must not fail there
            return payload
        except Exception as exc:
            try:
                os.replace(path, self.bad / path.name)
            except OSError:
                pass  # gone; all the same to the worker
            log.error("broker: %s is not a message (%r); moved to %s", path.name, exc, self.bad)
            return None

    def forget(self, delivery_tag: str) -> None:
        """Delete the file of a message that is done with."""
        path = self._taken.pop(delivery_tag, None)
        if path is not None:
            path.unlink(missing_ok=True)

    def _restore(self, message: virtual.Message) -> None:
        # Put the very file back under its old name: the message keeps its place in the queue,
        # and there is never a second copy on disk.
        path = self._taken.pop(message.delivery_tag, None)
        if path is None:
            super()._restore(message)
            return
        try:
            os.replace(path, self.folder / path.name)
        except FileNotFoundError:
            pass  # already handed back by recover()
        self._listed, self._listed_at = {}, -LIST_INTERVAL_SECONDS  # seen before newer ones


class Transport(filesystem.Transport):
    """kombu's filesystem transport with atomic publishes and acknowledgements on disk."""

    Channel = Channel
    driver_name = "lvd-filesystem"
    _states: dict[str, virtual.BrokerState] = {}  # control folder → its bindings

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        # kombu keeps bindings in one state per process, though their tables are files in the
        # control folder: another folder in the same process (tests) would never get its
        # tables written, and messages published to an exchange there would go nowhere.
        folder = str(client.transport_options.get("control_folder", "control"))
        self.state = self._states.setdefault(folder, virtual.BrokerState())

    @property
    def default_connection_params(self) -> dict[str, Any]:
        """No default host: a folder has none, and kombu warns "No hostname was supplied" when
        a connection lacks one the transport's defaults name (virtual transports say localhost)."""
        return {}
