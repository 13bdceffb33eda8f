"""Call rows and agent events as the hotline stores them, for the figures' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.calls.models import AgentEvent, Call

#: 10:00 in Shanghai on a Monday: "today" runs from 2025-03-02 16:00 UTC.
NOW = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
_serial = iter(range(1, 1_000_000))


def at(hours: float) -> datetime:
    """A time ``hours`` after the centre's midnight of today (negative: yesterday)."""
    return datetime(2025, 3, 2, 16, 0, tzinfo=UTC) + timedelta(hours=hours)


def call(db: AsyncSession, *, queue: str | None = "general", started: datetime, wait: int = 0,
         outcome: str | None = "answered", agent: str | None = None, talk: int = 0,
         hold: int = 0, wrapup: int = 0, kind: str = "hotline", parent: str | None = None,
         ended: bool = True, **extra: Any) -> str:
    """One stored call; answered ones get an answered_at (their wait after queueing)."""
    call_id = extra.pop("id", f"call-{next(_serial)}")
    answered = outcome in ("answered", "transferred")
    queued = started + timedelta(seconds=2)
    db.add(Call(
        id=call_id, kind=kind, direction="inbound", caller_number="13800138001", queue=queue,
        agent=agent if answered else None, parent_id=parent, started_at=started,
        queued_at=queued, answered_at=queued + timedelta(seconds=wait) if answered else None,
        ended_at=(queued + timedelta(seconds=wait + talk + hold)) if ended and outcome else None,
        wait_seconds=wait, talk_seconds=talk, hold_seconds=hold, wrapup_seconds=wrapup,
        outcome=outcome, **extra,
    ))
    return call_id


def event(db: AsyncSession, agent: str, kind: str, when: datetime, queue: str | None = "general",
          reason: str = "") -> None:
    db.add(AgentEvent(agent=agent, queue=queue, kind=kind, reason=reason, at=when))
