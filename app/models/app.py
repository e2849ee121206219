"""An app that sends events: its name and keys."""

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class App(db.Model):
    """An app: the public write key ingests, the secret read key (stored hashed) queries."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    write_key: Mapped[str] = mapped_column(String(64), unique=True)
    read_key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The published plan version events are validated against (None: no plan yet).
    plan_version: Mapped[int | None]
    # The account that created it in the dashboard (None: created with the admin command).
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
