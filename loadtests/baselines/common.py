"""What the baselines share: the envelope schema of the original design and its one table.

The baselines are the designs ours is measured against (`make bench`); they do not import the
app, so they stay what the original design described.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import request
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from sqlalchemy import JSON, DateTime, Integer, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class EventSchema(Schema):
    """The original design's validation: marshmallow on the event envelope."""

    class Meta:
        unknown = EXCLUDE

    eventName = fields.String(required=True)
    messageId = fields.String()
    userId = fields.Raw()


class Base(DeclarativeBase):
    pass


class BenchEvent(Base):
    __tablename__ = "bench_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_name: Mapped[str] = mapped_column(String(255))
    payload: Mapped[dict] = mapped_column(JSON)
    payload_hash: Mapped[str | None] = mapped_column(String(64))  # baseline S hashes, C does not
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


SCHEMA = EventSchema()
engine = create_engine(os.environ["BENCH_DATABASE_URL"], pool_pre_ping=False)
Session = sessionmaker(engine)


def validated_event() -> tuple[dict | None, tuple[dict, int] | None]:
    """The request's event checked by marshmallow: (event, None), or (None, a 400 answer)."""
    event = request.get_json()
    try:
        SCHEMA.load(event)
    except ValidationError as exc:
        return None, ({"code": "invalid_event", "message": str(exc.messages)}, 400)
    return event, None


def create_table() -> None:
    Base.metadata.create_all(engine)


def insert_event(event: dict) -> None:
    """One INSERT and one COMMIT, as the original design stores each event."""
    with Session() as session:
        session.add(
            BenchEvent(event_name=event["eventName"], payload=event, received_at=datetime.now(UTC))
        )
        session.commit()
