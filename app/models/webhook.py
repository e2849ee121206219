"""Webhooks of an app (a generic JSON receiver or a Slack incoming webhook) and their
deliveries: one row per message sent, which is the truth the delivery task and its sweep act on."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class Webhook(db.Model):
    """Where an app's alerts and digests are posted besides the owner's mail."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # json | slack
    url: Mapped[str] = mapped_column(String(2000))
    # json kind: the HMAC key of X-LVD-Signature (Slack's URL is its own secret: None).
    secret: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(default=True)


class WebhookDelivery(db.Model):
    """One message to one webhook: pending (with its next attempt's time) until delivered or
    failed. `body` is the JSON text sent, byte for byte (it holds counts and masked
    violations, never a raw payload)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The sweep: pending deliveries whose next attempt is due.
        Index("ix_webhook_deliveries_state_next", "state", "next_attempt_at"),
        # The app page's log, newest first.
        Index("ix_webhook_deliveries_app_id_id", "app_id", "id"),
        # Pruning a webhook's oldest.
        Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    message: Mapped[str] = mapped_column(String(8))  # alert | digest | test
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    response_status: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    body: Mapped[str] = mapped_column(Text, default="")
