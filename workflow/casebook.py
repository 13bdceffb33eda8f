"""The workflow store as one object per process: open, move, read and list cases, each in
its own transaction, with the calendar cached briefly and the scheduler woken when a move
armed a timer sooner than it sleeps for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from callcenter.bus import Bus
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.engine import Prebuilt, ReadLease, SessionFactory
from callcenter.store.models import utcnow
from workflow import services
from workflow.calendar import WorkCalendar, load_calendar
from workflow.kinds import CaseKind, CaseRow
from workflow.machines import Actor
from workflow.queries import case_view, list_statement, summaries
from workflow.schemas import CaseCreate, CaseList, CaseListQuery, CaseView

#: How long a process keeps the calendar before reading the overrides again.
CALENDAR_TTL = 30.0


class Casebook:
    """Open, move, read and list cases (see ``services.py`` and ``queries.py``)."""

    def __init__(self, sessions: SessionFactory, settings: Settings, bus: Bus,
                 scheduler: Scheduler | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.settings = settings
        self.bus = bus
        self.scheduler = scheduler
        self.clock = clock
        self.zone = ZoneInfo(settings.time_zone)
        self.engine: AsyncEngine = sessions.kw["bind"]
        self._calendar: tuple[datetime, WorkCalendar] | None = None

    async def calendar(self) -> WorkCalendar:
        now = utcnow()
        if self._calendar is None or (now - self._calendar[0]).total_seconds() > CALENDAR_TTL:
            async with self.sessions() as session:
                self._calendar = (now, await load_calendar(session))
        return self._calendar[1]

    def forget_calendar(self) -> None:
        """The calendar changed here: read it again on the next use."""
        self._calendar = None

    async def _context(self) -> services.Context:
        return services.Context(self.settings, await self.calendar(), self.zone, self.clock())

    def _woken(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()

    async def create(self, kind: CaseKind, data: CaseCreate, actor: Actor) -> CaseRow:
        ctx = await self._context()
        async with self.sessions.begin() as session:
            row = await services.create_case(session, kind, data, actor, ctx)
        self._woken()
        return row

    async def move(self, kind: CaseKind, case_id: int, action: str, version: int,
                   fields: Mapping[str, object], actor: Actor) -> CaseRow:
        ctx = await self._context()
        async with self.sessions.begin() as session:
            row = await services.transition(session, kind, case_id, action, version, fields,
                                            actor, ctx)
        self._woken()
        return row

    async def view(self, kind: CaseKind, case_id: int, actor: Actor) -> CaseView:
        calendar = await self.calendar()
        async with self.sessions() as session:
            return await case_view(session, kind, case_id, actor, calendar, self.zone, self.clock())

    async def list(self, kind: CaseKind, actor: Actor, query: CaseListQuery) -> CaseList:
        """A list, read outside a transaction on PostgreSQL (no BEGIN/ROLLBACK round trips)."""
        statement = Prebuilt(list_statement(kind, actor, query, self.clock()))
        async with ReadLease(self.engine) as lease:
            rows = await lease.run(lambda conn: statement.fetch(conn, {}))
        return summaries(kind, rows, query.limit)
