"""The full profile's queue of accepted events: a Redis stream, drained in batches.

Why not one Celery message per request: consuming a message costs a kombu worker about 0.6 ms
of CPU (BRPOP, an unacked-index pipeline, an ack pipeline, per message), as much as a whole
request, so workers could never keep up with the API. Instead the admission script XADDs each
request's events as one stream entry and, when no drain is queued yet, queues ONE Celery task
(`app.tasks.events.drain_events`) in the same round trip. The drain reads hundreds of entries at
once through a consumer group, stores them in one statement, then acknowledges and deletes them.

An entry holds its events as one JSON array: in field `e` as it is, or, for a request whose
events take PACK_FROM_BYTES or more (a batch), zlib-compressed in field `z` (plus `keep`, the
0-based positions of the events to store, when the dedup claims refused some of them). An entry
waits in Redis's memory until stored, and a batch's compresses ~7x at ~0.4 µs per event
(docs/perf/memory.md); a single event's would save little for ~6 µs.

The consumer group gives the guarantees Celery's acks_late gave: an entry is deleted only after
its events are stored; entries a dead worker had read stay pending and are claimed by the next
drain once idle for CLAIM_IDLE_MS; storing is idempotent, so a second delivery adds no row.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

import redis

STREAM = "lvd:events"
GROUP = "storage"
# Set while a drain task is queued or running, so requests queue at most one more.
DRAIN_FLAG = "lvd:drain-queued"
DRAIN_FLAG_SECONDS = 60
# Entries read by a consumer that has not acknowledged them for this long are taken over (its
# process died); longer than any one batch takes to store.
CLAIM_IDLE_MS = 60_000
# Events of one request that take at least this many bytes of JSON wait compressed.
PACK_FROM_BYTES = 4096
# zlib's fastest level: its ratio on event messages is within ~10 % of level 6's at a third
# of the CPU, and the API pays it on the request path.
PACK_LEVEL = 1


def pack(texts: list[str]) -> bytes | None:
    """The entry's `z` field for these event messages (JSON texts), or None when they are
    small enough to wait as they are."""
    if sum(len(text) for text in texts) < PACK_FROM_BYTES:
        return None
    return zlib.compress(("[" + ",".join(texts) + "]").encode(), PACK_LEVEL)


def _field(fields: dict[Any, Any], name: str) -> Any:
    return fields.get(name, fields.get(name.encode()))


def entry_text(fields: dict[Any, Any]) -> bytes | str | None:
    """The JSON array of an entry's event messages (None for an entry without events). An
    entry that cannot be unpacked comes back as it is: the drain then sets it aside as not
    JSON, and keeps its bytes in the dead letter."""
    packed = _field(fields, "z")
    if packed is None:
        return _field(fields, "e")
    try:
        text = zlib.decompress(packed)
        keep = _field(fields, "keep")
        if keep is None:
            return text
        # Rare: some of the request's events were duplicates. ASCII escapes keep whatever
        # the messages hold exactly as the plain array would have.
        messages = json.loads(text)
        positions = keep.decode() if isinstance(keep, bytes) else keep
        return json.dumps([messages[int(i)] for i in positions.split(",")])
    except (zlib.error, ValueError, LookupError, TypeError, RecursionError):
        return packed


def _id(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


def decode(fields: dict[Any, Any]) -> list[dict[str, Any]]:
    """The event messages of one stream entry."""
    return json.loads(entry_text(fields))


class EventStream:
    """One consumer's view of the stream."""

    def __init__(self, client: redis.Redis, consumer: str) -> None:
        self._client = client
        self.consumer = consumer
        self._own_pending = True  # a consumer of this name may have died mid-batch

    def ensure_group(self) -> None:
        """Create the consumer group (from the stream's start) unless it exists."""
        try:
            self._client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(self, count: int) -> list[tuple[str, bytes | str]]:
        """Up to `count` entries for this consumer: first those this consumer (on the first
        call) or a dead one left pending, then new ones. Returns (entry id, JSON array of the
        entry's event messages) pairs; the array as bytes when the client answers bytes (the
        drain's does: an entry that is not UTF-8 is then its problem alone)."""
        try:
            return self._read(count)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            self.ensure_group()  # Redis lost its data, or never had the group
            return self._read(count)

    def _read(self, count: int) -> list[tuple[str, bytes | str]]:
        entries: list[tuple[str, dict]] = []
        if self._own_pending:
            entries += self._read_group("0", count)
            self._own_pending = False
        _, stale, _ = self._client.xautoclaim(
            STREAM, GROUP, self.consumer, CLAIM_IDLE_MS, start_id="0-0", count=count
        )
        entries += [entry for entry in stale if entry[0] not in {e for e, _ in entries}]
        if len(entries) < count:
            entries += self._read_group(">", count - len(entries))
        # An entry without its field (deleted, or written by something else) is acknowledged
        # as done: there is nothing in it to store.
        return [(_id(entry_id), entry_text(fields) or "[]") for entry_id, fields in entries]

    def _read_group(self, start: str, count: int) -> list[tuple[str, dict]]:
        answer = self._client.xreadgroup(GROUP, self.consumer, {STREAM: start}, count=count)
        return [entry for _stream, entries in answer for entry in entries]

    def done(self, entry_ids: list[str]) -> None:
        """Acknowledge and delete entries whose events are stored (or dead-lettered)."""
        if entry_ids:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.xack(STREAM, GROUP, *entry_ids)
                pipe.xdel(STREAM, *entry_ids)
                pipe.execute()

    def keep_flag(self) -> None:
        """Still draining: requests need not queue another drain."""
        self._client.set(DRAIN_FLAG, "1", ex=DRAIN_FLAG_SECONDS)

    def drop_flag(self) -> None:
        """Stopping: the next request queues a drain (callers then look once more for entries
        that arrived before the flag was dropped)."""
        self._client.delete(DRAIN_FLAG)
