"""Fixtures of the SDK tests: the micro-profile service on a real HTTP server (the browser tests'
fixtures, tests/browser_fixtures.py), the npm-installed SDKs, and reading back what got stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from app.extensions import db
from app.models import Event
from tests.e2e.test_nginx import start_proxy  # noqa: F401

JS_DIR = Path(__file__).parent / "js"
NODE_MODULES = JS_DIR / "node_modules"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/sdk/js/node_modules, installed from the lock file by `make test` (`npm ci`)."""
    if not (NODE_MODULES / "@segment").is_dir():
        pytest.fail(f"{NODE_MODULES} is missing: run `cd {JS_DIR} && npm ci` (make test does)")
    return NODE_MODULES


def stored_events(flask_app: Flask, app_id: int) -> list[Event]:
    """Every stored event of one app, oldest first."""
    with flask_app.app_context():
        rows = list(
            db.session.scalars(select(Event).where(Event.app_id == app_id).order_by(Event.id))
        )
        db.session.expunge_all()
        db.session.remove()
        return rows
