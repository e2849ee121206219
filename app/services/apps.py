"""Apps and their keys."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from app.errors import ServiceError
from app.extensions import db
from app.models import TrackedApp
from app.services.app_keys import hash_read_key, new_read_key, new_write_key
from app.services.ingestion import app_directory
from app.services.plans import versions as plans
from app.validation import PlanError, pii

# apps.name is String(255).
MAX_NAME_CHARS = 255
# apps.id is an INTEGER: a larger id names no app.
MAX_APP_ID = 2**31 - 1


@dataclass(frozen=True)
class NewApp:
    """A created app with its read key, which is shown only this once."""

    app: TrackedApp
    read_key: str

    def to_dict(self) -> dict[str, Any]:
        """The contract's answer of `apps create --json`."""
        return {
            "id": self.app.id,
            "name": self.app.name,
            "write_key": self.app.write_key,
            "read_key": self.read_key,
            "plan_version": self.app.plan_version,
        }


def name_problem(name: str) -> str | None:
    """Why `name` (before stripping) cannot name an app, or None when it can."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        return f"An app name is 1 to {MAX_NAME_CHARS} characters."
    # NUL cannot be stored in PostgreSQL text, and control characters (tabs, line breaks,
    # escapes) would garble the dashboard, CLI listings and e-mails that show the name.
    bad = next((c for c in name if unicodedata.category(c) == "Cc"), None)
    if bad is not None:
        return f"An app name cannot contain control characters (found {bad!r})."
    return None


def checked_name(name: str) -> str:
    """`name` stripped, or ValueError saying why it cannot name an app."""
    problem = name_problem(name)
    if problem is not None:
        raise ValueError(problem)
    return name.strip()


def create_app_record(
    name: str, plan: dict[str, Any] | None = None, owner_id: int | None = None
) -> NewApp:
    """Create an app (and publish its first plan when given); returns it with its read key."""
    name = checked_name(name)
    if plan is not None:
        plans.parse(plan)  # refuse a bad plan before creating anything
    read_key = new_read_key()
    app = TrackedApp(
        name=name,
        write_key=new_write_key(),
        read_key_hash=hash_read_key(read_key),
        owner_id=owner_id,
    )
    db.session.add(app)
    try:
        db.session.flush()
        if plan is not None:
            plans.save_plan(app, plan, publish=True, commit=False)
    except PlanError:  # checks only the full save makes (NUL, endless $ref): no app either
        db.session.rollback()
        raise
    app_directory.note_change(db.session, [app.write_key])
    db.session.commit()
    db.session.refresh(app)  # loaded again now: callers read it after their session ends
    return NewApp(app, read_key)


def set_owner(app: TrackedApp, user_id: int) -> None:
    """Give the app to this dashboard user (the admin command)."""
    app.owner_id = user_id
    db.session.commit()


def claim_if_unowned(app_id: int, user_id: int) -> bool:
    """Make this user the app's owner if it has none; True if this call did.

    One conditional UPDATE: when several accounts claim at once, the database lets exactly
    one of them change the row (PostgreSQL re-checks the condition after the first commits;
    SQLite runs one writer at a time)."""
    result = db.session.execute(
        update(TrackedApp)
        .where(TrackedApp.id == app_id, TrackedApp.owner_id.is_(None))
        .values(owner_id=user_id)
    )
    db.session.commit()
    return result.rowcount == 1


def apps_of(user_id: int) -> list[TrackedApp]:
    """The apps a dashboard user owns, newest first."""
    return list(
        db.session.scalars(
            select(TrackedApp).where(TrackedApp.owner_id == user_id).order_by(TrackedApp.id.desc())
        )
    )


def owned_app(user_id: int, app_id: int) -> TrackedApp | None:
    """The app if this user owns it; None otherwise (the page answers 404 either way)."""
    if not 0 < app_id <= MAX_APP_ID:  # no such row, and the databases would refuse to compare
        return None
    return db.session.scalar(
        select(TrackedApp).where(TrackedApp.id == app_id, TrackedApp.owner_id == user_id)
    )


def find_app(ref: str | int) -> TrackedApp | None:
    """An app by id, else by name."""
    if isinstance(ref, int) or str(ref).isdigit():
        app = db.session.get(TrackedApp, int(ref))
        if app is not None:
            return app
    return db.session.scalars(
        select(TrackedApp).where(TrackedApp.name == str(ref)).order_by(TrackedApp.id)
    ).first()


def apps_called(name: str, limit: int = 5) -> list[TrackedApp]:
    """Up to `limit` apps with this name, oldest first (names need not be unique)."""
    query = select(TrackedApp).where(TrackedApp.name == name).order_by(TrackedApp.id).limit(limit)
    return list(db.session.scalars(query))


def app_by_read_key(read_key: str) -> TrackedApp | None:
    """The app a read key belongs to."""
    return db.session.scalars(
        select(TrackedApp).where(TrackedApp.read_key_hash == hash_read_key(read_key))
    ).first()


def list_apps() -> list[TrackedApp]:
    """All apps, oldest first."""
    return list(db.session.scalars(select(TrackedApp).order_by(TrackedApp.id)))


def rotate_write_key(app: TrackedApp) -> str:
    """Give the app a new write key; the old one stops working at once."""
    old = app.write_key
    app.write_key = new_write_key()
    app_directory.note_change(db.session, [old, app.write_key])
    db.session.commit()
    return app.write_key


def rotate_read_key(app: TrackedApp) -> str:
    """Give the app a new read key and return it (shown once)."""
    read_key = new_read_key()
    app.read_key_hash = hash_read_key(read_key)
    db.session.commit()
    return read_key


def rename_app(app: TrackedApp, name: str) -> None:
    """Give the app a new name (1 to 255 characters)."""
    app.name = checked_name(name)
    db.session.commit()


def set_pii_policy(app: TrackedApp, policy: str) -> None:
    """What personal data in property values does to the app's events from now on: `warn`,
    `fail` or `off` (docs/pii.md). Ingestion picks it up like a published plan."""
    if policy not in pii.POLICIES:
        raise ServiceError(
            "invalid", "invalid_pii_policy", f"The PII policy is one of {', '.join(pii.POLICIES)}."
        )
    app.pii_policy = policy
    app_directory.note_change(db.session, [app.write_key])
    db.session.commit()
