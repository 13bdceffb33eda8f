"""Per-agent figures: calls, handling, occupancy, and the state an agent was left in.

The agent state trail (``agent_events``: login, logout, pause, unpause per agent and queue)
gives the logged-in and paused time of a window; the calls the agent answered give the
handling time. Occupancy = handling time / (logged in − paused).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from ari_apps.wallboard.figures import aware
from callcenter.calls.models import AgentEvent, Call
from callcenter.store.engine import Prebuilt

#: How far back the state an agent was in at a window's start is looked for.
LOOKBACK = timedelta(days=7)

_HANDLED = Prebuilt(
    select(Call.agent, func.count().label("calls"),
           func.coalesce(func.sum(Call.talk_seconds + Call.hold_seconds + Call.wrapup_seconds), 0)
           .label("handling"))
    .where(Call.agent.is_not(None), Call.answered_at.is_not(None),
           Call.started_at >= bindparam("start"), Call.started_at < bindparam("end"))
    .group_by(Call.agent)
)
_ON_CALL = Prebuilt(
    select(Call.agent, func.max(Call.answered_at).label("since"))
    .where(Call.agent.is_not(None), Call.answered_at.is_not(None), Call.ended_at.is_(None),
           Call.started_at >= bindparam("since"))
    .group_by(Call.agent)
)
_BLANK = literal_column("''", String)
_LAST_BEFORE = (
    select(AgentEvent.agent, AgentEvent.queue, func.max(AgentEvent.at).label("at"))
    .where(AgentEvent.at < bindparam("start"), AgentEvent.at >= bindparam("lookback"))
    .group_by(AgentEvent.agent, AgentEvent.queue)
    .subquery()
)
_EVENT_COLUMNS = (AgentEvent.agent, AgentEvent.queue, AgentEvent.kind, AgentEvent.reason,
                  AgentEvent.at, AgentEvent.id)
_EVENTS = Prebuilt(
    select(*_EVENT_COLUMNS)
    .join(_LAST_BEFORE, and_(_LAST_BEFORE.c.agent == AgentEvent.agent,
                             _LAST_BEFORE.c.at == AgentEvent.at,
                             func.coalesce(_LAST_BEFORE.c.queue, _BLANK)
                             == func.coalesce(AgentEvent.queue, _BLANK)))
    .union_all(select(*_EVENT_COLUMNS).where(AgentEvent.at >= bindparam("start"),
                                             AgentEvent.at < bindparam("end")))
)


@dataclass
class AgentTrail:
    """One agent's availability walked through their events."""

    logged: set[str | None] = field(default_factory=set)
    paused: set[str | None] = field(default_factory=set)
    reason: str = ""
    last_at: datetime | None = None
    logged_seconds: float = 0.0
    paused_seconds: float = 0.0

    @property
    def logged_in(self) -> bool:
        return bool(self.logged)

    @property
    def is_paused(self) -> bool:
        return self.logged_in and (None in self.paused or self.logged <= self.paused)

    def state(self) -> str:
        if not self.logged_in:
            return "logged_out"
        return "paused" if self.is_paused else "idle"

    def apply(self, kind: str, queue: str | None, reason: str) -> None:
        if kind == "login":
            self.logged.add(queue)
        elif kind == "logout":
            if queue is None:
                self.logged.clear()
                self.paused.clear()
            self.logged.discard(queue)
            self.paused.discard(queue)
        elif kind == "pause":
            self.paused.add(queue)
            self.reason = reason
        elif kind == "unpause":
            if queue is None:
                self.paused.clear()
            self.paused.discard(queue)
        if not self.is_paused:
            self.reason = ""

    def accrue(self, until: datetime, start: datetime) -> None:
        """Count the time since the last event (not before ``start``) up to ``until``."""
        since = max(self.last_at or start, start)
        seconds = max(0.0, (until - since).total_seconds())
        if self.logged_in:
            self.logged_seconds += seconds
            if self.is_paused:
                self.paused_seconds += seconds


def walk(events: Iterable[Sequence[Any]], start: datetime, until: datetime) -> dict[str, AgentTrail]:
    """Each agent's trail from ``(agent, queue, kind, reason, at, id)`` rows: the state at
    ``start`` from the rows before it, then the time logged in and paused up to ``until``."""
    trails: dict[str, AgentTrail] = {}
    for agent, queue, kind, reason, at, _id in sorted(events, key=lambda e: (aware(e[4]), e[5])):
        when = aware(at)
        trail = trails.setdefault(str(agent), AgentTrail())
        if when >= start:
            trail.accrue(min(when, until), start)
        trail.apply(str(kind), queue, str(reason or ""))
        trail.last_at = when
    for trail in trails.values():
        trail.accrue(until, start)
    return trails


@dataclass(frozen=True, slots=True)
class AgentFigures:
    """An agent's figures over a window."""

    agent: str
    calls: int
    handling_seconds: int
    logged_seconds: float
    paused_seconds: float

    @property
    def occupancy(self) -> float | None:
        available = self.logged_seconds - self.paused_seconds
        return self.handling_seconds / available if available > 0 else None


async def agent_figures(
    conn: AsyncConnection, start: datetime, end: datetime, now: datetime
) -> tuple[dict[str, AgentFigures], dict[str, tuple[str, str, datetime | None]]]:
    """Figures per agent over ``[start, end)`` (time counted up to ``min(end, now)``), and
    each agent's state as the stored rows leave it: ``(state, reason, since)``."""
    params = {"start": start, "end": end, "lookback": start - LOOKBACK}
    rows = [tuple(r.values()) if hasattr(r, "values") else tuple(r)
            for r in await _EVENTS.fetch(conn, params)]
    trails = walk(rows, start, min(end, now))
    handled = {str(r["agent"]): (int(r["calls"]), int(r["handling"]))
               for r in await _HANDLED.fetch(conn, {"start": start, "end": end})}
    on_call = {str(r["agent"]): aware(r["since"])
               for r in await _ON_CALL.fetch(conn, {"since": now - timedelta(days=1)})}
    figures: dict[str, AgentFigures] = {}
    states: dict[str, tuple[str, str, datetime | None]] = {}
    for agent in sorted(set(trails) | set(handled)):
        trail = trails.get(agent, AgentTrail())
        calls, handling = handled.get(agent, (0, 0))
        figures[agent] = AgentFigures(agent, calls, handling, trail.logged_seconds,
                                      trail.paused_seconds)
        states[agent] = (trail.state(), trail.reason, trail.last_at)
    for agent, since in on_call.items():
        states[agent] = ("in_call", "", since)
    return figures, states
