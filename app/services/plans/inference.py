"""A draft plan from observed traffic: the app's recent unplanned events with counts and samples,
and a draft that adds the schemas inferred for the ones chosen (docs/inference.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import Event, TrackedApp, TrackingPlan
from app.schemas.native_event import native_properties
from app.services.plans import versions as plans
from app.validation.event_names import plausible_event_name, shown_name
from app.validation.inference import infer_schema
from app.validation.violations import shown

DEFAULT_SAMPLE = 1000  # newest events read
MAX_SAMPLE = 10_000
SAMPLES_SHOWN = 3  # newest property sets shown per event
# A property set under this many characters is shown whole; a bigger one has its strings cut
# to 200 characters and big containers summarised, as violations show values.
SAMPLE_BUDGET = 200
SAMPLE_TEXT_CHARS = 160  # a sample as one line of JSON on the page, cut after this


@dataclass
class ObservedEvent:
    """One unplanned event name among the newest events read."""

    name: str
    count: int
    last_seen: datetime
    plausible: bool
    properties: list[Any] = field(repr=False)  # every property set read, newest first

    def samples(self) -> list[Any]:
        """The newest few property sets, long strings and big containers shortened."""
        return [shown(sample, SAMPLE_BUDGET) for sample in self.properties[:SAMPLES_SHOWN]]

    def sample_texts(self) -> list[str]:
        """samples() as single lines of JSON, cut to SAMPLE_TEXT_CHARS (escape for HTML)."""
        texts = [json.dumps(sample, sort_keys=True) for sample in self.samples()]
        return [t if len(t) <= SAMPLE_TEXT_CHARS else t[:SAMPLE_TEXT_CHARS] + "…" for t in texts]


@dataclass
class Observed:
    """What the newest `read` track and screen events hold that the plan lacks."""

    read: int
    events: list[ObservedEvent]


@dataclass
class Inferred:
    """The draft saved (None when nothing was added), the names it added and the implausible
    observed names it left out."""

    draft: TrackingPlan | None
    added: list[str]
    left_out: list[str]


class ChoiceError(ValueError):
    """Chosen names that cannot be added; the message names them and says why."""


def _properties(payload: dict[str, Any]) -> Any:
    if "eventName" in payload:  # native: every field but the envelope is a property
        return native_properties(payload)
    return payload.get("properties") or {}


def observed_unplanned(app: TrackedApp, limit: int = DEFAULT_SAMPLE) -> Observed:
    """The track and screen event names among the app's newest `limit` events that the working
    copy of its plan lacks, most frequent first (then by name)."""
    _, body = plans.working_copy(app)
    planned = body.get("events", {})
    rows = db.session.execute(
        select(Event.event_name, Event.payload, Event.received_at)
        .where(Event.app_id == app.id, Event.type.in_(("track", "screen")))
        .order_by(Event.id.desc())
        .limit(limit)
    ).all()
    found: dict[str, ObservedEvent] = {}
    for name, payload, received_at in rows:  # newest first
        if name in planned:
            continue
        seen = found.get(name)
        if seen is None:
            seen = found[name] = ObservedEvent(name, 0, received_at, plausible_event_name(name), [])
        seen.count += 1
        seen.properties.append(_properties(payload))
    events = sorted(found.values(), key=lambda e: (-e.count, e.name))
    return Observed(len(rows), events)


def infer_draft(
    app: TrackedApp, limit: int = DEFAULT_SAMPLE, chosen: list[str] | None = None
) -> Inferred:
    """Save a draft that adds, to the working copy, a schema inferred from recent traffic for
    each chosen event (None: every plausible unplanned one). Planned events keep their schema:
    traffic says what the app sends, the plan what it should. ChoiceError when a chosen name
    is not among the unplanned events read, or none is chosen."""
    observed = {event.name: event for event in observed_unplanned(app, limit).events}
    if chosen is None:
        names = sorted(name for name, event in observed.items() if event.plausible)
    else:
        names = sorted(set(chosen))
        if not names:
            raise ChoiceError("Choose at least one event to add.")
        missing = [name for name in names if name not in observed]
        if missing:
            listed = ", ".join(f'"{shown_name(name)}"' for name in missing[:5])
            raise ChoiceError(
                f"Not among the unplanned events of the newest {limit} read "
                f"(already planned, or not seen): {listed}"
                + (f" and {len(missing) - 5} more." if len(missing) > 5 else ".")
            )
    left_out = sorted(n for n, e in observed.items() if not e.plausible and n not in names)
    if not names:
        return Inferred(None, [], left_out)
    _, body = plans.working_copy(app)
    events = dict(body.get("events", {}))
    events.update({name: infer_schema(observed[name].properties) for name in names})
    draft = plans.save_plan(app, {**body, "events": events}, publish=False)
    return Inferred(draft, names, left_out)
