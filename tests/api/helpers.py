"""Helpers of the read API tests: events stored the way a worker stores them."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from flask import Flask, request

from app.ingest.endpoint_steps import request_info
from app.services.apps import NewApp
from app.services.ingestion.verdicts import prepare_native
from app.services.storage.events import store_events


def prepare(
    flask_app: Flask,
    new: NewApp,
    raw_events: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
    received_at: datetime | None = None,
) -> list[dict[str, Any]]:
    """The messages ingestion would queue for these events (with real signed task ids)."""
    with flask_app.test_request_context(headers=headers or {}):
        entry = flask_app.extensions["app_directory"].lookup(new.app.write_key)
        info = request_info(entry, new.app.write_key, request)
        if received_at is not None:
            info = dataclasses.replace(info, received_at=received_at)
        return [prepare_native(raw, info).message.to_dict() for raw in raw_events]


def store(flask_app: Flask, new: NewApp, raw_events: list[dict[str, Any]], **kwargs):
    """Store events as a worker would, one insert each so ids follow the list's order."""
    messages = prepare(flask_app, new, raw_events, **kwargs)
    with flask_app.app_context():
        for message in messages:
            assert store_events([message]) == 1
    return messages
