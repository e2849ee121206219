"""Baseline S: Flask + marshmallow + a synchronous INSERT+COMMIT per request."""

from flask import Flask, request
from marshmallow import ValidationError

from loadtests.baselines.common import SCHEMA, insert_event

app = Flask(__name__)


@app.post("/api/logs/<key>")
def log_event(key: str):
    event = request.get_json()
    try:
        SCHEMA.load(event)
    except ValidationError as exc:
        return {"code": "invalid_event", "message": str(exc.messages)}, 400
    insert_event(event)
    return {"status": "stored"}, 202
