"""Database models."""

from app.models.dead_letter import DeadLetter
from app.models.dedup_claim import DedupClaim
from app.models.event import Event
from app.models.event_stat import (
    EventMinuteStat,
    EventStat,
    EventVersionStat,
    StatWatermark,
    ViolationStat,
)
from app.models.job import Job, JobFile
from app.models.test_run import TestRun
from app.models.test_run_count import TestRunCount
from app.models.tracked_app import TrackedApp
from app.models.tracking_plan import TrackingPlan
from app.models.user import EmailCode, User
from app.models.webhook import Webhook, WebhookDelivery

__all__ = [
    "TrackedApp",
    "DeadLetter",
    "DedupClaim",
    "EmailCode",
    "Event",
    "EventMinuteStat",
    "EventStat",
    "EventVersionStat",
    "Job",
    "JobFile",
    "StatWatermark",
    "TestRun",
    "TestRunCount",
    "TrackingPlan",
    "User",
    "ViolationStat",
    "Webhook",
    "WebhookDelivery",
]
