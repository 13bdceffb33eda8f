"""Deadlines as durable timers (``workflow.deadline``, key ``<kind>:<id>:warn|due``).

They are written in the same transaction as the case's move (the scheduler's own upsert,
newest request wins), so a case never exists without its timers nor a closed case with
live ones; they survive a restart and fire late if they fell due while no process ran.
A waiting state pauses the deadline: its timers are cancelled, and on resuming the case gets
back the working time it had left (:func:`resumed_deadline`) and the timers are armed again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.bus import Bus, BusMessage
from callcenter.logs import get_logger
from callcenter.scheduler import Scheduler, Timer
from callcenter.scheduler.records import apply_cancel, apply_schedule, iso
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Role
from workflow.calendar import Deadline, WorkCalendar
from workflow.kinds import CaseKind, CaseRow, get_row, kind_named
from workflow.models import CaseEvent
from workflow.notifier import queue_deadline_notices
from workflow.supervision import raise_supervision

log = get_logger(__name__)
KIND = "workflow.deadline"
STAGES = ("warn", "due")
#: ``details`` key of a complaint whose reply deadline the forwarding body set.
FORWARDED = "forwarded_due_at"
AUDIENCE_ROLES = [Role.AGENT.value, Role.SUPERVISOR.value]
#: The product's default time zone (``Settings.time_zone``): the texts' local times.
CENTRE_ZONE = ZoneInfo("Asia/Shanghai")


_last_stamp: list[datetime] = []


def _stamp(now: datetime) -> str:
    """A request time strictly after this process's previous one (the newest request wins)."""
    if _last_stamp and now <= _last_stamp[0]:
        now = _last_stamp[0] + timedelta(microseconds=1)
    _last_stamp[:] = [now]
    return iso(now)


def initial_deadline(kind: CaseKind, settings: Settings, calendar: WorkCalendar,
                     received: datetime, zone: ZoneInfo) -> Deadline | None:
    """A new case's deadline, fixed now (SOS orders have none: they run on the incident)."""
    if kind.name == "consult":
        due = received + timedelta(hours=settings.workflow_consult_hours)
        return Deadline(due, due.astimezone(zone).date(), False)
    days = (settings.workflow_complaint_days if kind.name == "complaint"
            else settings.workflow_work_order_days)
    return calendar.add_working_days(received, days, zone)


def counts_working_days(kind: CaseKind, row: CaseRow) -> bool:
    """Whether the case's deadline was counted in working days (not a consult's hours, nor
    the reply time a forwarding body set on a complaint)."""
    return kind.name != "consult" and FORWARDED not in (row.details or {})


def resumed_deadline(kind: CaseKind, row: CaseRow, calendar: WorkCalendar, zone: ZoneInfo,
                     now: datetime) -> Deadline:
    """The deadline of a case that waited from ``row.paused_at`` and resumes ``now``.

    In working days: the working days it had left when it paused are counted again from the
    day it resumes, as if it were received then ("N left" → the end of the Nth working day
    after the resume day). What it had left are the working days after the pause day through
    its last day: the pause day itself was spent. Paused on its last day (none left): the end
    of the resume day, or of the next working day. Paused when already overdue: it stays so.
    The new deadline is provisional when a day counted after the resume is guessed. Clock
    deadlines (a consult's 48 h, a forwarder's reply time) move by the time spent waiting.
    """
    assert row.paused_at is not None and row.due_at is not None
    due, paused = row.due_at, row.paused_at
    if not counts_working_days(kind, row):
        moved = due + (now - paused)
        return Deadline(moved, moved.astimezone(zone).date(), row.due_provisional)
    if due <= paused:
        return Deadline(due, (due - timedelta(microseconds=1)).astimezone(zone).date(),
                        row.due_provisional)
    left = calendar.working_days_between(paused, due - timedelta(microseconds=1), zone)
    if left == 0:
        return calendar.end_of_first_working_day(now, zone)
    return calendar.add_working_days(now, left, zone)


async def arm(session: AsyncSession, kind: CaseKind, row: CaseRow, settings: Settings,
              now: datetime) -> None:
    """Arm (or move) the case's warning and escalation, in the caller's transaction."""
    if row.due_at is None:
        return
    warn_at = max(now, row.due_at - timedelta(hours=settings.workflow_warn_hours))
    for stage, when in (("warn", warn_at), ("due", row.due_at)):
        key = f"{kind.name}:{row.id}:{stage}"
        await apply_schedule(session, {
            "kind": KIND, "key": key, "due_at": iso(when), "requested_at": _stamp(now),
            "payload": {"kind": kind.name, "id": row.id, "stage": stage,
                        "due_at": iso(row.due_at)}}, key)


async def disarm(session: AsyncSession, kind: CaseKind, case_id: int, now: datetime) -> None:
    """The case ended or waits: neither timer fires."""
    for stage in STAGES:
        key = f"{kind.name}:{case_id}:{stage}"
        await apply_cancel(session, {"kind": KIND, "key": key, "requested_at": _stamp(now)}, key)


class DeadlineTimers:
    """Runs the warning and the escalation when they fall due, in whichever process claims
    them: the timeline, the console (bus) and texts to the people concerned (``notifier``).

    ``wake`` tells this process's outbox dispatcher that texts were queued (after the commit);
    without one the dispatcher finds them at its next poll.
    """

    def __init__(self, sessions: SessionFactory, bus: Bus, clock: Callable[[], datetime], *,
                 zone: ZoneInfo = CENTRE_ZONE,
                 wake: Callable[[], None] | None = None) -> None:
        self.sessions = sessions
        self.bus = bus
        self.clock = clock
        self.zone = zone
        self.wake = wake

    def register(self, scheduler: Scheduler) -> None:
        scheduler.register(KIND, self.run)

    async def run(self, timer: Timer) -> None:
        kind = kind_named(str(timer.payload["kind"]))
        stage = str(timer.payload["stage"])
        now = self.clock()
        async with self.sessions.begin() as session:
            row = await get_row(session, kind, int(timer.payload["id"]))
            if (row is None or row.status in kind.machine.met or row.paused_at is not None
                    or row.due_at is None or iso(row.due_at) != timer.payload.get("due_at")):
                return  # ended, waiting, or moved since: the newer timer speaks for it
            if stage == "warn":
                session.add(CaseEvent(case_kind=kind.name, case_id=row.id, at=now,
                                      actor="system", action="deadline.warning",
                                      detail={"due_at": iso(row.due_at)}))
            else:
                session.add(CaseEvent(case_kind=kind.name, case_id=row.id, at=now,
                                      actor="system", action="deadline.escalated",
                                      detail={"due_at": iso(row.due_at)}))
                await raise_supervision(
                    session, kind=kind.name, case_id=row.id, number=row.number,
                    reason="overdue", area_path=row.area_path,
                    provider_id=getattr(row, "provider_id", None), at=now,
                    detail={"due_at": iso(row.due_at), "status": row.status})
            queued = await queue_deadline_notices(session, kind, row, stage, self.zone, now)
            number, area_path, due_at = row.number, row.area_path, row.due_at
        if queued and self.wake is not None:
            self.wake()
        audience: dict[str, object] = {"roles": AUDIENCE_ROLES}
        if area_path:
            audience["area_path"] = area_path
        topic = "workflow.deadline_warning" if stage == "warn" else "workflow.overdue"
        await self.bus.publish(BusMessage(topic, {"kind": kind.name, "id": int(timer.payload["id"]),
                                                  "number": number, "due_at": iso(due_at)},
                                          audience))
        log.info("workflow deadline", kind=kind.name, case_id=number, stage=stage, texts=queued)
