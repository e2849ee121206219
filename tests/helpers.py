"""Test helpers: judge events exactly as the ingest endpoint does, and count stored rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.ingest.accept import prepare_native
from app.ingest.handling import request_info
from app.models import Event

DEMO_PLAN = json.loads((Path(__file__).parent.parent / "app/validation/demo_plan.json").read_text())


def queued_message(flask_app: Flask, write_key: str, raw: dict[str, Any]) -> dict[str, Any]:
    """The message the ingest endpoint would queue for `raw` (with a real signed task id)."""
    with flask_app.test_request_context():
        entry = flask_app.extensions["app_directory"].lookup(write_key)
        return prepare_native(raw, request_info(entry, write_key)).message


def count_events(flask_app: Flask, **where: Any) -> int:
    """How many stored events match the column values given."""
    with flask_app.app_context():
        query = select(func.count()).select_from(Event)
        for column, value in where.items():
            query = query.where(getattr(Event, column) == value)
        count = db.session.scalar(query)
        db.session.remove()
        return count
