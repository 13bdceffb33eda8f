"""The supervisor's live view: the figures of a window from the stored rows, with the live
queue, agent and callback state the hotline reports on the bus laid over them.

The view works in any process (a web-only one too): on start it reads the stored rows
(callers waiting, each agent's last state, the callback list if its table exists); from
then on ``hotline.queue.changed``, ``hotline.agent.changed`` and
``hotline.callbacks.changed`` keep it live. Nothing here is the truth of a figure: the
figures always come from the stored calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ari_apps.wallboard.agents import agent_figures
from ari_apps.wallboard.figures import INTERVAL_SECONDS, Counts, FigureQueries, aware, waiting_now
from callcenter.directory.services import Jurisdiction
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.models import Area, Role, User

log = get_logger(__name__)
#: The answer-rate targets of seeds B §4.1.3 and D §5.1.5.
TARGETS = (0.90, 0.95)
#: Hotline topics the view follows (spelled as the hotline contract says).
QUEUE_CHANGED = "hotline.queue.changed"
AGENT_CHANGED = "hotline.agent.changed"
CALLBACKS_CHANGED = "hotline.callbacks.changed"
CALL_TOPICS = ("hotline.call.ringing", "hotline.call.answered", "hotline.call.ended",
               "hotline.call.stopped_ringing")
AGENT_STATES = ("logged_out", "idle", "ringing", "in_call", "wrapup", "paused")
PERIODS = ("today", "week")


@dataclass
class LiveQueue:
    waiting: int
    since: datetime | None


@dataclass
class LiveAgent:
    state: str
    reason: str
    since: datetime | None


@dataclass
class Changes:
    """What a bus message changed: queues and agents whose row must be sent again."""

    queues: set[str] = field(default_factory=set)
    agents: set[str] = field(default_factory=set)
    callbacks: bool = False
    figures: bool = False  # a call moved: the stored figures changed


def window(period: str, now: datetime, zone: str) -> tuple[datetime, datetime]:
    """``today`` or ``week`` (from Monday) in the centre's time zone, as UTC bounds."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        midnight -= timedelta(days=local.weekday())
        return midnight.astimezone(UTC), (midnight + timedelta(days=7)).astimezone(UTC)
    return midnight.astimezone(UTC), (midnight + timedelta(days=1)).astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return aware(value)
    except ValueError:
        return None


class Wallboard:
    """The figures and the live state of one process."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime]) -> None:
        self.settings = settings
        self.clock = clock
        self.queries = FigureQueries(settings.wallboard_service_level_seconds,
                                     settings.wallboard_queue_service_level)
        self.queues: dict[str, LiveQueue] = {}
        self.agents: dict[str, LiveAgent] = {}
        self.callbacks_pending: int | None = None
        self.queue_paths: dict[str, str] = {}
        #: Each agent's area path ("" for none: only centre-wide users see them).
        self.agent_paths: dict[str, str] = {}
        self.synced = False

    # -- the live state ----------------------------------------------------------------
    async def resync(self, conn: AsyncConnection) -> None:
        """The live state as the stored rows leave it (on start, before the bus speaks)."""
        now = self.clock()
        self.queues = {q: LiveQueue(n, since)
                       for q, (n, since) in (await waiting_now(conn, now - timedelta(days=1))).items()}
        start, end = window("today", now, self.settings.time_zone)
        _, states = await agent_figures(conn, start, end, now)
        self.agents = {a: LiveAgent(s, r, since) for a, (s, r, since) in states.items()}
        self.callbacks_pending = await _stored_callbacks(conn)
        codes = self.settings.wallboard_queue_areas
        if codes:
            rows = await conn.execute(select(Area.code, Area.path).where(Area.code.in_(set(codes.values()))))
            by_code = {code: path for code, path in rows}
            self.queue_paths = {q: by_code[c] for q, c in codes.items() if c in by_code}
            for queue, code in codes.items():
                if code not in by_code:
                    log.warning("wallboard queue area unknown; queue shown centre-wide",
                                queue=queue, area=code)
        self.synced = True

    def apply(self, topic: str, payload: Mapping[str, Any]) -> Changes:
        """Lay one hotline message over the live state; a malformed one changes nothing."""
        changes = Changes()
        if topic == QUEUE_CHANGED:
            queue, waiting = payload.get("queue"), payload.get("waiting")
            if not isinstance(queue, str) or not queue or not isinstance(waiting, int) or waiting < 0:
                log.warning("wallboard: bad queue message ignored", topic=topic)
                return changes
            self.queues[queue] = LiveQueue(waiting, _parse_time(payload.get("longest_wait_since")))
            changes.queues.add(queue)
        elif topic == AGENT_CHANGED:
            agent, state = payload.get("agent"), payload.get("state")
            if not isinstance(agent, str) or not agent or state not in AGENT_STATES:
                log.warning("wallboard: bad agent message ignored", topic=topic)
                return changes
            self.agents[agent] = LiveAgent(str(state), str(payload.get("reason") or ""),
                                           _parse_time(payload.get("since")) or self.clock())
            changes.agents.add(agent)
        elif topic == CALLBACKS_CHANGED:
            pending = payload.get("pending")
            if not isinstance(pending, int) or pending < 0:
                log.warning("wallboard: bad callbacks message ignored", topic=topic)
                return changes
            self.callbacks_pending = pending
            changes.callbacks = True
        elif topic in CALL_TOPICS:
            changes.figures = topic in ("hotline.call.answered", "hotline.call.ended")
            for key, into in (("queue", changes.queues), ("agent", changes.agents)):
                value = payload.get(key)
                if isinstance(value, str) and value:
                    into.add(value)
        return changes

    # -- who sees what -------------------------------------------------------------------
    def queue_path(self, queue: str) -> str | None:
        return self.queue_paths.get(queue)

    def sees_queue(self, scope: Jurisdiction, queue: str) -> bool:
        path = self.queue_paths.get(queue)
        return path is None or scope.covers(path)

    # -- the figures ---------------------------------------------------------------------
    async def snapshot(
        self, conn: AsyncConnection, scope: Jurisdiction, period: str = "today",
        start: datetime | None = None, end: datetime | None = None,
    ) -> dict[str, Any]:
        """Every figure of the window for the queues and agents ``scope`` covers."""
        now = self.clock()
        explicit = start is not None and end is not None
        if start is None or end is None:
            start, end = window(period, now, self.settings.time_zone)
            live = period == "today"
        else:
            live = start <= now < end
        short = self.settings.hotline_short_abandon_seconds
        counts = await self.queries.counts(conn, start, end, short)
        names = set(q for q, _ in counts) | (set(self.queues) if live else set())
        queues = [self.queue_row(q, counts.get((q, None), Counts()), live, now)
                  for q in sorted(names) if self.sees_queue(scope, q)]
        figures, states = await agent_figures(conn, start, end, now)
        people = await _agents_in(conn, scope)
        self.agent_paths.update({u: path for u, (_, path) in people.items()})
        agents = [self.agent_row(username, name, figures.get(username),
                                 states.get(username) if not live else None)
                  for username, (name, _) in sorted(people.items())]
        return {
            "period": "window" if explicit else period,
            "start": start.isoformat(), "end": end.isoformat(), "generated_at": now.isoformat(),
            "targets": list(TARGETS), "short_abandon_seconds": short,
            "queues": queues, "agents": agents,
            "callbacks_pending": self.callbacks_pending,
        }

    def queue_row(self, queue: str, counts: Counts, live: bool, now: datetime) -> dict[str, Any]:
        state = self.queues.get(queue) if live else None
        figures = counts.figures()
        answer_rate = figures["answer_rate"]
        return {
            "queue": queue,
            "waiting": state.waiting if state else 0,
            "longest_wait_since": _iso(state.since) if state and state.waiting else None,
            "longest_wait_seconds": (
                max(0, int((now - state.since).total_seconds()))
                if state and state.waiting and state.since else 0),
            "offered": counts.offered, "answered": counts.answered,
            "abandoned": counts.abandoned, "short_abandoned": counts.short_abandoned,
            "answered_within": counts.answered_within,
            "service_level_seconds": self.queries.service_level_seconds(queue),
            "handled": counts.answered, "handling_seconds": counts.handling,
            "answered_wait_seconds": counts.answered_wait,
            **figures,
            "meets_targets": [answer_rate is not None and answer_rate >= t for t in TARGETS],
        }

    def agent_row(self, username: str, name: str, figures: Any,
                  stored: tuple[str, str, datetime | None] | None) -> dict[str, Any]:
        live = self.agents.get(username)
        if stored is not None:  # a past window: the state the rows left, not the live one
            state, reason, since = stored
        elif live is not None:
            state, reason, since = live.state, live.reason, live.since
        else:
            state, reason, since = "logged_out", "", None
        return {
            "agent": username, "name": name, "state": state, "reason": reason,
            "since": _iso(since),
            "calls": figures.calls if figures else 0,
            "handling_seconds": figures.handling_seconds if figures else 0,
            "logged_seconds": round(figures.logged_seconds) if figures else 0,
            "paused_seconds": round(figures.paused_seconds) if figures else 0,
            "occupancy": figures.occupancy if figures else None,
        }

    async def intervals(
        self, conn: AsyncConnection, scope: Jurisdiction, start: datetime, end: datetime,
        queue: str | None = None,
    ) -> list[dict[str, Any]]:
        """The 15-minute history of ``[start, end)``: every interval, empty ones included,
        summed over the visible queues (or the one asked for)."""
        short = self.settings.hotline_short_abandon_seconds
        counts = await self.queries.counts(conn, start, end, short, by_interval=True)
        totals: dict[int, Counts] = {}
        for (name, bucket), c in counts.items():
            if bucket is None or not self.sees_queue(scope, name) or (queue and name != queue):
                continue
            totals[bucket] = _add(totals.get(bucket, Counts()), c)
        first = int(start.timestamp()) // INTERVAL_SECONDS * INTERVAL_SECONDS
        rows = []
        for at in range(first, int(end.timestamp()), INTERVAL_SECONDS):
            c = totals.get(at, Counts())
            rows.append({"start": datetime.fromtimestamp(at, UTC).isoformat(),
                         "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
                         "short_abandoned": c.short_abandoned, **c.figures()})
        return rows


def _add(a: Counts, b: Counts) -> Counts:
    return Counts(a.offered + b.offered, a.answered + b.answered, a.abandoned + b.abandoned,
                  a.short_abandoned + b.short_abandoned, a.answered_within + b.answered_within,
                  a.answered_wait + b.answered_wait, a.handling + b.handling)


async def _agents_in(conn: AsyncConnection, scope: Jurisdiction) -> dict[str, tuple[str, str]]:
    """The active agents of ``scope``: username → (display name, area path or "")."""
    statement = (select(User.username, User.display_name, Area.path)
                 .outerjoin(Area, Area.id == User.area_id)
                 .where(User.role == Role.AGENT.value, User.active.is_(True)))
    rows = (await conn.execute(statement)).all()
    return {u: (d or u, path or "") for u, d, path in rows
            if scope.area_path is None or (path is not None and scope.covers(path))}


async def _stored_callbacks(conn: AsyncConnection) -> int | None:
    """Pending callbacks from the hotline's ``callbacks`` table if this store has one with a
    ``status`` column (it belongs to the hotline feature); None when it cannot be read."""
    def columns(sync: Any) -> set[str]:
        inspector = inspect(sync)
        if not inspector.has_table("callbacks"):
            return set()
        return {c["name"] for c in inspector.get_columns("callbacks")}

    try:
        if "status" not in await conn.run_sync(columns):
            return None
        result = await conn.execute(text("SELECT count(*) FROM callbacks WHERE status = 'pending'"))
        return int(result.scalar_one())
    except Exception as err:  # noqa: BLE001 - another feature's table: read defensively
        log.warning("wallboard: callbacks table unreadable", error=type(err).__name__)
        return None
