"""The hotline's own tables: the callback list and the elders flagged high-risk.

Calls and agent events live in the shared tables (``callcenter/calls/models.py``).
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class CallbackStatus(enum.StrEnum):
    """Where a callback stands."""

    PENDING = "pending"  # waiting for its next attempt
    DIALLING = "dialling"  # an attempt is ringing or waiting in the queue
    CONNECTED = "connected"  # an agent took the call back
    FAILED = "failed"  # every attempt failed: kin alerted, follow-up opened
    CLEARED = "cleared"  # the caller called in again by themselves


class Callback(Base):
    """One abandoned (or overflowed) call to call back; one per abandoned call, never two."""

    __tablename__ = "hotline_callbacks"
    __table_args__ = (
        CheckConstraint(check_in("status", CallbackStatus), name="status"),
        Index("ix_hotline_callbacks_status_place", "status", "priority", "queued_at"),
        Index("ix_hotline_callbacks_number", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The abandoned call: unique, so one abandon never gets two callbacks.
    call_id: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str] = mapped_column(String(32))
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id", ondelete="RESTRICT"))
    queue: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: When the caller first joined the queue: their place among waiting callers.
    queued_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=CallbackStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime | None] = mapped_column()
    last_result: Mapped[str] = mapped_column(String(64), default="")
    #: The call row of the attempt that reached an agent.
    connected_call_id: Mapped[str | None] = mapped_column(String(64))
    work_order_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column()


class HighRiskFlag(Base):
    """An elder whose calls go first in the queue (set by a supervisor)."""

    __tablename__ = "hotline_high_risk"

    elder_id: Mapped[int] = mapped_column(
        ForeignKey("elders.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    set_by: Mapped[str] = mapped_column(String(64))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
