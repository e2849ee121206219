"""Dedup claims of the micro profile (the full profile keeps them in Redis)."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime


class DedupClaim(db.Model):
    """The first task id answered for a message id or payload hash, until it expires."""

    __tablename__ = "dedup_claims"

    app_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    dedup_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
