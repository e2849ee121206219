"""The ceiling: a minimal Flask endpoint answering 202, under the same gunicorn settings."""

from flask import Flask

app = Flask(__name__)


@app.post("/api/logs/<key>")
def log_event(key: str):
    return {"status": "accepted"}, 202
