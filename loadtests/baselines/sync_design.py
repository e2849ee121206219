"""Baseline S: Flask + marshmallow + a synchronous INSERT+COMMIT per request."""

from flask import Flask

from loadtests.baselines.common import insert_event, validated_event

app = Flask(__name__)


@app.post("/api/logs/<key>")
def log_event(key: str):
    event, refusal = validated_event()
    if refusal:
        return refusal
    insert_event(event)
    return {"status": "stored"}, 202
