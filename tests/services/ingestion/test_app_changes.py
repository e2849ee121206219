"""A service notes the apps its transaction changes; they are announced after the commit only."""

from app.extensions import db
from app.models import TrackedApp
from app.services.ingestion import app_directory
from tests.helpers import DEMO_PLAN
from tests.support.profiles import add_app


def test_changes_are_announced_after_the_commit_and_forgotten_on_a_rollback(micro_app, monkeypatch):
    shop = add_app(micro_app, plan=DEMO_PLAN)
    announced: list[list[str]] = []
    directory = micro_app.extensions["app_directory"]
    monkeypatch.setattr(directory, "announce_change", announced.append)
    key = shop.app.write_key
    with micro_app.app_context():
        db.session.get(TrackedApp, shop.app.id).name = "renamed"  # a transaction, as services have
        app_directory.note_change(db.session, [key])
        db.session.rollback()
        db.session.commit()
        assert announced == []  # rolled back: nothing changed
        app_directory.note_change(db.session, [key])
        assert announced == []  # not before the commit
        db.session.commit()
        assert announced == [[key]]
        db.session.commit()
        assert announced == [[key]]  # once
