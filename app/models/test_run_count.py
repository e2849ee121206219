"""Events of a test run counted at admission (micro profile; the full profile counts in Redis)."""

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class TestRunCount(db.Model):
    """How many events of one run were accepted for storage, and how many were blocked."""

    __tablename__ = "test_run_counts"
    __test__ = False  # a model, not a pytest test class

    app_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    test_run: Mapped[str] = mapped_column(String(255), primary_key=True)
    accepted: Mapped[int] = mapped_column(default=0)
    blocked: Mapped[int] = mapped_column(default=0)
    # Last counted: rows older than the counts' TTL are pruned like Redis lets its keys expire.
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
