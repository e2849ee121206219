"""Admission of a request's events: per-key rate limit, queue backlog, dedup claims, enqueue.

`admit_request` runs it for one request's judged events and words the refusals (429, 503).

A dedup claim is the first task id answered for a message id (or payload hash) within the
window; it is atomic, so two racing copies of one message get one task id between them. The
events that claimed their key are queued for storage together.

The full profile does all of it in Redis in ONE round trip: a Lua script that also XADDs the
events to the event stream and, when no drain is queued, LPUSHes the drain task's message
(event_stream.py, task_message.py beside this module), and counts the events of each test run
the request carries (run_counts.py), so the enqueue is the request's only I/O. Micro keeps
claims (and run counts) in its database, counts requests in memory (it is one process) and
publishes one Celery message per request with `apply_async` to its file broker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import redis
from kombu.exceptions import KombuError
from sqlalchemy.exc import SQLAlchemyError

from app.errors import ServiceError
from app.extensions import db
from app.services.accounts.throttle import Throttle
from app.services.ingestion.claims import LUA_CLAIM_ALL, TableClaims, claim_key
from app.services.ingestion.event_stream import DRAIN_FLAG, DRAIN_FLAG_SECONDS, STREAM, pack
from app.services.ingestion.run_counts import TableRunCounts, run_key, runs_of
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

    def admit(
        self, app_id: int, write_key: str, events: list[Event], blocked: Counter[str]
    ) -> list[str | None]:
        """Per event: None if it was new and is now queued under the task id of its message,
        else the task id of the event that owns its dedup key. The queued events count as
        accepted for their test runs, and `blocked` (events per run answered `blocked`) as
        blocked (run_counts.py).

        Raises RateLimited or Backlogged, or the broker's or database's error; then nothing
        was claimed, queued or counted.
        """


# KEYS: rate counter, event stream, drain flag, Celery queue, dedup keys..., run count hashes...;
# ARGV: rate limit, rate window, backlog limit, dedup window, drain flag TTL, drain message,
# number of run hashes R, their TTL, the packed events ('' if not packed), task ids..., event
# JSONs ('' each when packed)..., and only when R > 0: each event's run (index into the run
# hashes, 0 for none)..., blocked events per run.... Limits of 0 are off.
# Returns {'rate', ttl} | {'backlog'} | {'ok', owner-or-'' per event}.
# The unclaimed events become ONE stream entry (event_stream.py: `e`, or `z` and `keep` when
# packed); if no drain is queued yet, the drain task's message goes to the Celery queue too.
# Each run's hash counts its unclaimed (accepted) and its blocked events (run_counts.py). The
# claims are claims.py's.
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
local runs = tonumber(ARGV[7])
local packed = ARGV[9]
local events = #KEYS - 4 - runs
local claimed = claim_all(KEYS, 5, ARGV, 10, events, ARGV[4])
local owners = {'ok'}
local new = {}
local keep = {}
local accepted = {}
for r = 1, runs do accepted[r] = 0 end
for i = 1, events do
  owners[i + 1] = claimed[i]
  if claimed[i] == '' then
    new[#new + 1] = ARGV[i + 9 + events]
    keep[#keep + 1] = i - 1
    if runs > 0 then
      local run = tonumber(ARGV[i + 9 + 2 * events])
      if run > 0 then accepted[run] = accepted[run] + 1 end
    end
  end
end
if #new > 0 then
  if packed == '' then
    redis.call('XADD', KEYS[2], '*', 'e', '[' .. table.concat(new, ',') .. ']')
  elseif #new == events then
    redis.call('XADD', KEYS[2], '*', 'z', packed)
  else
    redis.call('XADD', KEYS[2], '*', 'z', packed, 'keep', table.concat(keep, ','))
  end
  if redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[5]) then
    redis.call('LPUSH', KEYS[4], ARGV[6])
  end
end
for r = 1, runs do
  local key = KEYS[4 + events + r]
  local blocked = tonumber(ARGV[9 + 3 * events + r])
  if accepted[r] > 0 then redis.call('HINCRBY', key, 'accepted', accepted[r]) end
  if blocked > 0 then redis.call('HINCRBY', key, 'blocked', blocked) end
  if accepted[r] > 0 or blocked > 0 then redis.call('EXPIRE', key, ARGV[8]) end
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
        run_counts_ttl: int,
    ) -> None:
        self._client = client
        self._args = [rate_limit, rate_window, backlog_limit, dedup_window, DRAIN_FLAG_SECONDS]
        self._drain = drain
        self._run_ttl = run_counts_ttl
        self._admit = client.register_script(_ADMIT)

    def admit(
        self, app_id: int, write_key: str, events: list[Event], blocked: Counter[str]
    ) -> list[str | None]:
        # The runs of this request, numbered from 1 for the script; most requests have none.
        runs: dict[str, int] = {}
        for _, message in events:
            if message.test_run:
                runs.setdefault(message.test_run, len(runs) + 1)
        for run in blocked:
            runs.setdefault(run, len(runs) + 1)
        keys = [f"lvd:rate:{write_key}", STREAM, DRAIN_FLAG, self._drain.queue]
        keys += [claim_key(app_id, dedup_key) for dedup_key, _ in events]
        keys += [run_key(app_id, run) for run in runs]
        texts = [message.to_json() for _, message in events]
        packed = pack(texts)
        args = [*self._args, self._drain.render(), len(runs), self._run_ttl, packed or ""]
        args += [message.task_id for _, message in events]
        args += [""] * len(texts) if packed else texts
        if runs:
            args += [runs.get(message.test_run or "", 0) for _, message in events]
            args += [blocked[run] for run in runs]
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
        run_counts: TableRunCounts,
    ) -> None:
        self._publish = publish  # queues one message holding these events
        self._claims = TableClaims(dedup_window)
        self._runs = run_counts
        # Requests per write key, counted in this process (micro is one); 0 turns it off.
        self._rate = Throttle(rate_limit, rate_window) if rate_limit > 0 else None

    def admit(
        self, app_id: int, write_key: str, events: list[Event], blocked: Counter[str]
    ) -> list[str | None]:
        if self._rate is not None and (retry_after := self._rate.hit(write_key)):
            raise RateLimited(retry_after)
        if not events and not blocked:
            return []
        owners = self._claims.claim(app_id, [(key, message.task_id) for key, message in events])
        claimed = [event for event, owner in zip(events, owners, strict=True) if owner is None]
        accepted = runs_of([message.test_run for _, message in claimed])
        # Counted in the claims' transaction: both stand or fall together.
        self._runs.add(app_id, accepted, blocked)
        db.session.commit()
        if claimed:
            try:
                self._publish([message.to_dict() for _, message in claimed])
            except Exception:
                # Not queued, so not accepted: free the claims, or the client's retry would be
                # answered `duplicate` of an event that was never stored; and uncount them.
                self._release(app_id, claimed, accepted, blocked)
                raise
        return owners

    def _release(
        self, app_id: int, events: list[Event], accepted: Counter[str], blocked: Counter[str]
    ) -> None:
        try:
            self._claims.release(app_id, [(key, message.task_id) for key, message in events])
            self._runs.take_back(app_id, accepted, blocked)
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
    blocked = runs_of([p.message.test_run for p in prepared if p.blocked])
    try:
        owners = admission.admit(info.entry.app_id, info.write_key, events, blocked)
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
