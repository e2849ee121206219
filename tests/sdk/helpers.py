"""Helpers of the SDK tests: where the npm-installed SDKs are, and reading back what got stored."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Event

JS_DIR = Path(__file__).parent / "js"

NODE_MODULES = JS_DIR / "node_modules"


def stored_events(flask_app: Flask, app_id: int) -> list[Event]:
    """Every stored event of one app, oldest first."""
    with flask_app.app_context():
        rows = list(
            db.session.scalars(select(Event).where(Event.app_id == app_id).order_by(Event.id))
        )
        db.session.expunge_all()
        db.session.remove()
        return rows
