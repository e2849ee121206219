"""Admission of a request's events: per-key rate limit, queue backlog, dedup claims, enqueue.

`admit_request` runs it for one request's judged events and words the refusals (429, 503).

A dedup claim is the first task id answered for a message id (or payload hash) within the
window; it is atomic, so two racing copies of one message get one task id between them. The
events that claimed their key are queued for storage together.

The full profile does all of it in Redis in ONE round trip: a Lua script that also XADDs the
events to the event stream and, when no drain is queued, LPUSHes the drain task's message
(event_stream.py, task_message.py beside this module), so the enqueue is the request's only
I/O. Micro keeps claims in its database, counts requests in memory (it is one process) and
publishes one Celery message per request with `apply_async` to its file broker.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import redis
from kombu.exceptions import KombuError
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceError
from app.extensions import db
from app.services.accounts.throttle import Throttle
from app.services.ingestion.claims import LUA_CLAIM_ALL, TableClaims, claim_key
from app.services.ingestion.event_stream import DRAIN_FLAG, DRAIN_FLAG_SECONDS, STREAM
from app.services.ingestion.stored_event import StoredEvent
from app.services.ingestion.task_message import TaskMessage
from app.services.ingestion.verdicts import Prepared, RequestInfo

DUPLICATE = "Duplicate of an event already accepted; not stored again"

Event = tuple[str, StoredEvent]  # (dedup key, the message a worker stores)


class RateLimited(Exception):
    """The write key sent more requests than its limit allows in this window."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited; retry after {retry_after}s")
        self.retry_after = retry_after


class Backlogged(Exception):
    """The storage queue holds more messages than its limit: refuse new work for now."""


class Admission(Protocol):
    """Decides whether a request's events may be queued, which are duplicates, and queues the
    others."""

    def admit(self, app_id: int, write_key: str, events: list[Event]) -> list[str | None]:
        """Per event: None if it was new and is now queued under the task id of its message,
        else the task id of the event that owns its dedup key.

        Raises RateLimited or Backlogged, or the broker's or database's error; then nothing
        was claimed or queued.
        """


# KEYS: rate counter, event stream, drain flag, Celery queue, dedup keys...; ARGV: rate limit,
# rate window, backlog limit, dedup window, drain flag TTL, drain message, task ids...,
# event JSONs.... Limits of 0 are off. Returns {'rate', ttl} | {'backlog'} |
# {'ok', owner-or-'' per event}. The unclaimed events become ONE stream entry; if no drain is
# queued yet, the drain task's message goes to the Celery queue too. The claims are claims.py's.
_ADMIT = (
    LUA_CLAIM_ALL
    + """
local limit = tonumber(ARGV[1])
if limit > 0 then
  local count = redis.call('INCR', KEYS[1])
  if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
  if count > limit then return {'rate', redis.call('TTL', KEYS[1])} end
end
local backlog = tonumber(ARGV[3])
if backlog > 0 and redis.call('XLEN', KEYS[2]) >= backlog then return {'backlog'} end
local events = #KEYS - 4
local claimed = claim_all(KEYS, 5, ARGV, 7, events, ARGV[4])
local owners = {'ok'}
local new = {}
for i = 1, events do
  owners[i + 1] = claimed[i]
  if claimed[i] == '' then new[#new + 1] = ARGV[i + 6 + events] end
end
if #new > 0 then
  redis.call('XADD', KEYS[2], '*', 'e', '[' .. table.concat(new, ',') .. ']')
  if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[5]) then
    redis.call('LPUSH', KEYS[4], ARGV[6])
  end
end
return owners
"""
)


class RedisAdmission:
    """Rate limit, backlog check, dedup claims and the enqueue, in one Redis round trip."""

    def __init__(
        self,
        client: redis.Redis,
        dedup_window: int,
        rate_limit: int,
        rate_window: int,
        backlog_limit: int,
        drain: TaskMessage,
    ) -> None:
        self._client = client
        self._args = [rate_limit, rate_window, backlog_limit, dedup_window, DRAIN_FLAG_SECONDS]
        self._drain = drain
        self._admit = client.register_script(_ADMIT)

    def admit(self, app_id: int, write_key: str, events: list[Event]) -> list[str | None]:
        keys = [f"lvd:rate:{write_key}", STREAM, DRAIN_FLAG, self._drain.queue]
        keys += [claim_key(app_id, dedup_key) for dedup_key, _ in events]
        args = [*self._args, self._drain.render()]
        args += [message.task_id for _, message in events]
        args += [message.to_json() for _, message in events]
        answer = self._admit(keys=keys, args=args)
        if answer[0] == "rate":
            raise RateLimited(max(1, int(answer[1])))
        if answer[0] == "backlog":
            raise Backlogged()
        # An owner equal to the offered task id: the script ran twice (redis-py retried after a
        # lost reply); the first run queued the event.
        return [
            owner if owner and owner != message.task_id else None
            for owner, (_, message) in zip(answer[1:], events, strict=True)
        ]


class LocalAdmission:
    """Micro: claims as rows of its database, the rate counted in this process."""

    def __init__(
        self,
        dedup_window: int,
        rate_limit: int,
        rate_window: int,
        publish: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        self._publish = publish  # queues one message holding these events
        self._claims = TableClaims(dedup_window)
        # Requests per write key, counted in this process (micro is one); 0 turns it off.
        self._rate = Throttle(rate_limit, rate_window) if rate_limit > 0 else None

    def admit(self, app_id: int, write_key: str, events: list[Event]) -> list[str | None]:
        if self._rate is not None and (retry_after := self._rate.hit(write_key)):
            raise RateLimited(retry_after)
        if not events:
            return []
        owners = self._claim(app_id, events)
        claimed = [event for event, owner in zip(events, owners, strict=True) if owner is None]
        if claimed:
            try:
                self._publish([message.to_dict() for _, message in claimed])
            except Exception:
                # Not queued, so not accepted: free the claims, or the client's retry would be
                # answered `duplicate` of an event that was never stored.
                self._release(app_id, claimed)
                raise
        return owners

    def _claim(self, app_id: int, events: list[Event]) -> list[str | None]:
        owners = self._claims.claim(app_id, [(key, message.task_id) for key, message in events])
        db.session.commit()
        return owners

    def _release(self, app_id: int, events: list[Event]) -> None:
        try:
            self._claims.release(app_id, [(key, message.task_id) for key, message in events])
            db.session.commit()
        except SQLAlchemyError:
            db.session.rollback()  # the claims expire with the dedup window


def unavailable(reason: str) -> ServiceError:
    """503 with Retry-After: SDKs retry, and nothing unqueued was accepted."""
    return ServiceError("unavailable", "unavailable", reason, retry_after=1)


def admit_request(info: RequestInfo, prepared: list[Prepared], admission: Admission) -> None:
    """Admit the request and queue its new events; duplicates' answers point at the original."""
    fresh = [p for p in prepared if not p.blocked]
    events = [(p.dedup_key, p.message) for p in fresh]
    try:
        owners = admission.admit(info.entry.app_id, info.write_key, events)
    except RateLimited as exc:
        raise ServiceError(
            "rate_limited",
            "rate_limited",
            f"Too many requests for this write key; retry in {exc.retry_after}s.",
            retry_after=exc.retry_after,
        )
    except Backlogged:
        raise unavailable("The storage queue is over its backlog limit; retry shortly.")
    except (redis.RedisError, SQLAlchemyError, KombuError, OSError):
        raise unavailable("The queue is unreachable; retry shortly.")
    for item, owner in zip(fresh, owners, strict=True):
        if owner is not None:
            item.answer.update(status="duplicate", task_id=owner, message=DUPLICATE)
