"""The ``timers`` table: durable timers, claimed by exactly one process each."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class TimerState(enum.StrEnum):
    """pending → running → done, or back to pending for a retry, or failed; cancelled."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    # A cancel leaves the row as a tombstone: a schedule request older than the cancel
    # (replayed late from the write journal) must not bring the timer back.
    CANCELLED = "cancelled"


class ScheduledTimer(Base):
    """One timer: ``kind`` names its handler, ``key`` is unique per kind."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "key"),
        CheckConstraint(check_in("state", TimerState), name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index("ix_timers_due", "state", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column()
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), default=TimerState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column()
    # When the schedule or cancel that set this row was asked for: the newest request
    # wins, whatever order the store sees them in (some arrive late, from the journal).
    requested_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
