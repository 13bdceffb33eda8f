"""The ``notifications`` outbox table: one row per SMS or email to deliver."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class Channel(enum.StrEnum):
    """How a notification travels."""

    SMS = "sms"
    EMAIL = "email"


class NotificationStatus(enum.StrEnum):
    """pending → sending → sent, or back to pending for a retry, or dead."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"



class Notification(Base):
    """One message to a kin, doctor or social worker, delivered exactly once (C §7.3.2.3)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dedup_key"),
        CheckConstraint(check_in("channel", Channel), name="channel"),
        CheckConstraint(check_in("status", NotificationStatus), name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_notifications_due", "status", "next_attempt_at"),
        Index("ix_notifications_subject", "subject_entity", "subject_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedup_key: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(255), default="")
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(8), default=NotificationStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_ref: Mapped[str | None] = mapped_column(String(255))
    subject_entity: Mapped[str | None] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
