"""The screen-pops showing now: one row per agent whose phone rings (or rang and answered)
for a call, so a reloaded console, in any console process, shows its pop again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, utcnow


class ScreenPop(Base):
    """The ``hotline.call.ringing`` message an agent's pop is built from, while it shows.

    ``state`` is ``ringing`` until that agent answers (then ``answered``); the row goes on
    answer elsewhere, when the ringing stops and when the call ends.
    """

    __tablename__ = "screen_pops"
    __table_args__ = (Index("ix_screen_pops_agent", "agent"),)

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="ringing")
    ringing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rung_at: Mapped[datetime] = mapped_column(default=utcnow)
