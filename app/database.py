"""Bringing the database schema up to date (wiring: the CLI and the micro server call it)."""

from flask import current_app
from flask_migrate import upgrade


def upgrade_if_micro() -> None:
    """Migrate the micro profile's database file on use (the full profile migrates in `make up`)."""
    if current_app.config["PROFILE"] == "micro":
        upgrade()
