"""Weather warnings for an area (A §5.3.2): one weather care call to every elder in it.

An operator issues a warning for an area and its sub-areas (a prefix of ``areas.path``)
with its text and a validity window. In one transaction the broadcast row, one task per
active elder with a phone (``b<broadcast>-e<elder>``, kind ``weather``, the text in its
details) and each task's ``care.call`` timer are stored: from then on the calls are the
ordinary weather reminders (spoken text, "press 1 to confirm", said twice, retried when
not answered), paced by the dialler like the rest, so a restart neither forgets an elder
nor calls one twice. Each elder's own hours and the centre's quiet hours set when their
call rings, unless the warning is urgent. No call is placed once the warning has expired
or been cancelled (checked when its attempt is queued and again when it is placed); calls
on the line go on. The counts are read from the tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.care.exceptions import (
    AreaNotFound,
    AreaOutOfScope,
    BroadcastNotFound,
    BroadcastOver,
    InvalidBroadcast,
    NobodyToCall,
)
from ari_apps.care.models import (
    CareBroadcast,
    CareHours,
    CareKind,
    CareTask,
    Escalation,
    TaskState,
)
from ari_apps.care.services import (
    CALL_KIND,
    ensure_timers,
    event,
    hours_for,
    insert_tasks,
    timer_values,
)
from callcenter import audit
from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Elder, ElderPhone, ElderStatus, utcnow

#: Spoken twice at a slow pace: a few sentences, not a bulletin.
MESSAGE_MAX = 300
#: A warning without ``until`` holds for this long.
DEFAULT_VALIDITY = timedelta(hours=12)
#: The longest a warning may hold.
MAX_VALIDITY = timedelta(days=7)
CANCELLED_REASON = "the broadcast was cancelled before this call was placed"
EXPIRED_REASON = "the warning expired before this call was placed"
#: Task states still to be dialled (or on the line).
PENDING = (TaskState.SCHEDULED.value, TaskState.QUEUED.value, TaskState.CALLING.value)
#: The counts a broadcast shows, in order.
COUNT_KEYS = ("confirmed", "no_response", "no_answer", "busy", "failed", "pending",
              "cancelled", "expired")


def _invalid(field: str, problem: str) -> InvalidBroadcast:
    return InvalidBroadcast(f"{field}: {problem}", {field: problem})


def check_message(message: str) -> str:
    """The warning's text, trimmed; a clear error for an empty, huge or binary one."""
    text = message.strip()
    if not text:
        raise _invalid("message", "the warning needs a text to speak")
    if len(text) > MESSAGE_MAX:
        raise _invalid("message", f"{len(text)} characters; at most {MESSAGE_MAX} (it is "
                                  "spoken twice on every call)")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise _invalid("message", "control characters (NUL, line breaks, …) cannot be spoken")
    return text


def check_until(until: datetime | None, settings: Settings, now: datetime) -> datetime:
    """The end of the warning's validity (aware); a clear error for a past or far one."""
    if until is None:
        return now + DEFAULT_VALIDITY
    if until.tzinfo is None:  # a local time, as the operator reads the clock
        until = until.replace(tzinfo=ZoneInfo(settings.time_zone))
    if until <= now:
        raise _invalid("until", f"{until.isoformat()} is in the past")
    if until - now > MAX_VALIDITY:
        raise _invalid("until", f"a warning holds for at most {MAX_VALIDITY.days} days")
    return until


def in_scope(scope: str | None) -> ColumnElement[bool]:
    """Areas within ``scope`` (an area path; None: everywhere)."""
    if scope is None:
        return Area.id.is_not(None)
    return Area.path.startswith(scope, autoescape=True)


def broadcast_task_id(broadcast_id: int, elder_id: int) -> str:
    """One task per broadcast and elder: the elder is never called twice for it."""
    return f"b{broadcast_id}-e{elder_id}"


@dataclass(frozen=True)
class Issued:
    """A broadcast as stored."""

    id: int
    area_code: str
    elders: int
    without_phone: int
    valid_until: datetime


async def issue(sessions: SessionFactory, settings: Settings, area_code: str, message: str,
                *, urgent: bool, until: datetime | None, actor: str, now: datetime,
                scope: str | None = None) -> Issued:
    """Store a warning for ``area_code`` and its sub-areas with every elder's call, or
    refuse it with a clear error and store nothing."""
    text = check_message(message)
    valid_until = check_until(until, settings, now)
    async with sessions.begin() as session:
        area = (await session.execute(select(Area).where(Area.code == area_code.strip()))
                ).scalar_one_or_none()
        if area is None:
            raise AreaNotFound(f"no area {area_code!r}", {"area": area_code})
        if scope is not None and not area.path.startswith(scope):
            raise AreaOutOfScope(f"area {area.code} ({area.name}) is outside your area",
                                 {"area": area.code})
        has_phone = select(ElderPhone.id).where(ElderPhone.elder_id == Elder.id).exists()
        rows = (await session.execute(
            select(Elder.id, has_phone, CareHours)
            .join(Area, Area.id == Elder.area_id)
            .outerjoin(CareHours, CareHours.elder_id == Elder.id)
            .where(Area.path.startswith(area.path, autoescape=True),
                   Elder.status == ElderStatus.ACTIVE.value)
            .order_by(Elder.id))).all()
        callable_ = [(elder_id, own) for elder_id, phone, own in rows if phone]
        if not callable_:
            raise NobodyToCall(f"no active elder with a phone in area {area.code} "
                               f"({area.name}) or below it", {"area": area.code})
        broadcast = CareBroadcast(area_id=area.id, message=text, urgent=urgent,
                                  valid_until=valid_until, elders=len(callable_),
                                  without_phone=len(rows) - len(callable_),
                                  created_by=actor, created_at=now)
        session.add(broadcast)
        await session.flush()
        quiet = hours_for(settings)
        tasks: list[dict[str, Any]] = []
        timers: list[dict[str, Any]] = []
        stamp = utcnow()
        day = now.astimezone(quiet.zone).date()
        payload = {"urgent": True} if urgent else None
        for elder_id, own in callable_:
            due = now if urgent else (quiet if own is None else hours_for(settings, own)
                                      ).place(now)
            ident = broadcast_task_id(broadcast.id, elder_id)
            tasks.append({"id": ident, "plan_id": None, "elder_id": elder_id,
                          "kind": CareKind.WEATHER.value, "local_date": day, "due_at": due,
                          "state": TaskState.SCHEDULED.value, "attempts": 0,
                          "unanswered_keys": 0, "reason": "",
                          "escalation": Escalation.NONE.value, "created_by": actor,
                          "created_at": stamp, "updated_at": stamp,
                          "details": {"message": text}, "broadcast_id": broadcast.id})
            timers.append(timer_values(CALL_KIND, f"{ident}:1", due, payload))
        await insert_tasks(session, tasks)
        await ensure_timers(session, timers)
        await audit.record(session, actor=actor, action="care.broadcast",
                           entity="care_broadcast", entity_id=broadcast.id,
                           after={"area": area.code, "urgent": urgent, "elders": len(tasks),
                                  "valid_until": valid_until.isoformat()})
        return Issued(broadcast.id, area.code, len(tasks), broadcast.without_phone,
                      valid_until)


async def cancel(sessions: SessionFactory, broadcast_id: int, *, actor: str, now: datetime,
                 scope: str | None = None) -> int:
    """Stop the broadcast's calls not yet placed (those on the line go on); how many."""
    async with sessions.begin() as session:
        found = (await session.execute(
            select(CareBroadcast).join(Area, Area.id == CareBroadcast.area_id)
            .where(CareBroadcast.id == broadcast_id, in_scope(scope))
            .with_for_update(of=CareBroadcast))).scalar_one_or_none()
        if found is None:
            raise BroadcastNotFound(f"no broadcast {broadcast_id}", {"broadcast": broadcast_id})
        if found.cancelled_at is not None:
            raise BroadcastOver(f"broadcast {broadcast_id} was cancelled at "
                                f"{found.cancelled_at.isoformat()} by {found.cancelled_by}",
                                {"broadcast": broadcast_id})
        found.cancelled_at, found.cancelled_by = now, actor
        stopped = await session.execute(
            update(CareTask).where(CareTask.broadcast_id == broadcast_id,
                                   CareTask.state.in_([TaskState.SCHEDULED.value,
                                                       TaskState.QUEUED.value]))
            .values(state=TaskState.CANCELLED.value, reason=CANCELLED_REASON,
                    updated_at=utcnow()))
        # Their timers too (a task cancelled is never queued, but nothing need wake for it).
        prefix = broadcast_task_id(broadcast_id, 0).removesuffix("0")
        await session.execute(
            update(ScheduledTimer).where(ScheduledTimer.kind == CALL_KIND,
                                         ScheduledTimer.key.startswith(prefix, autoescape=True),
                                         ScheduledTimer.state == TimerState.PENDING.value)
            .values(state=TimerState.CANCELLED.value, updated_at=utcnow()))
        count = int(stopped.rowcount)  # type: ignore[attr-defined]
        await audit.record(session, actor=actor, action="care.broadcast.cancel",
                           entity="care_broadcast", entity_id=broadcast_id,
                           after={"stopped": count})
        return count


async def stop_reason(session: AsyncSession, broadcast_id: int | None,
                      now: datetime) -> str | None:
    """Why a broadcast's call must not be placed now (cancelled, expired), or None."""
    if broadcast_id is None:
        return None
    row = (await session.execute(
        select(CareBroadcast.cancelled_at, CareBroadcast.valid_until)
        .where(CareBroadcast.id == broadcast_id))).first()
    if row is None or row.cancelled_at is not None:
        return CANCELLED_REASON
    if now >= row.valid_until:
        return EXPIRED_REASON
    return None


async def stop_task(sessions: SessionFactory, task_id: str, reason: str) -> None:
    """A broadcast's call not placed: the task ends cancelled, with why."""
    async with sessions.begin() as session:
        moved = await session.execute(
            update(CareTask).where(CareTask.id == task_id,
                                   CareTask.state.in_([TaskState.SCHEDULED.value,
                                                       TaskState.QUEUED.value]))
            .values(state=TaskState.CANCELLED.value, reason=reason, owner=None,
                    updated_at=utcnow()))
        if moved.rowcount:  # type: ignore[attr-defined]
            task = await session.get(CareTask, task_id)
            assert task is not None
            await event(session, "broadcast.stopped", elder_id=task.elder_id, task=task_id,
                        detail={"reason": reason})


async def stop_if_closed(sessions: SessionFactory, task_id: str, now: datetime) -> None:
    """An attempt not begun: if its broadcast is cancelled or expired, the task ends so."""
    async with sessions() as session:
        task = await session.get(CareTask, task_id)
        reason = await stop_reason(session, task.broadcast_id, now) \
            if task is not None else None
    if reason is not None:
        await stop_task(sessions, task_id, reason)


async def retry_urgent(session: AsyncSession, task: CareTask) -> bool:
    """Whether the task's retries ring in the quiet hours too (an urgent warning)."""
    if task.broadcast_id is None:
        return False
    urgent = (await session.execute(select(CareBroadcast.urgent).where(
        CareBroadcast.id == task.broadcast_id))).scalar_one_or_none()
    return bool(urgent)


def _count_key() -> Any:
    return case(
        (CareTask.state.in_(PENDING), "pending"),
        (CareTask.state == TaskState.CANCELLED.value,
         case((CareTask.reason == EXPIRED_REASON, "expired"), else_="cancelled")),
        else_=func.coalesce(CareTask.result, "failed"))


async def counts(session: AsyncSession, ids: list[int]) -> dict[int, dict[str, int]]:
    """Per broadcast: its calls by result (confirmed, no_response = not confirmed, …),
    still pending, cancelled or expired."""
    found: dict[int, dict[str, int]] = {i: dict.fromkeys(COUNT_KEYS, 0) for i in ids}
    if not ids:
        return found
    key = _count_key()
    rows = await session.execute(
        select(CareTask.broadcast_id, key, func.count())
        .where(CareTask.broadcast_id.in_(ids)).group_by(CareTask.broadcast_id, key))
    for broadcast_id, name, number in rows.all():
        found[broadcast_id][str(name)] = found[broadcast_id].get(str(name), 0) + int(number)
    return found


@dataclass(frozen=True)
class BroadcastRow:
    """A broadcast with its area, as listed."""

    broadcast: CareBroadcast
    area_code: str
    area_name: str


async def listed(session: AsyncSession, scope: str | None, *, broadcast_id: int | None = None,
                 limit: int = 50) -> list[BroadcastRow]:
    """The newest broadcasts for areas within ``scope`` (or one of them)."""
    query = (select(CareBroadcast, Area.code, Area.name)
             .join(Area, Area.id == CareBroadcast.area_id).where(in_scope(scope))
             .order_by(CareBroadcast.id.desc()).limit(limit))
    if broadcast_id is not None:
        query = query.where(CareBroadcast.id == broadcast_id)
    return [BroadcastRow(*row) for row in (await session.execute(query)).all()]


def state_of(broadcast: CareBroadcast, tally: dict[str, int]) -> str:
    """``cancelled``, ``active`` (calls still to place or on the line) or ``done``."""
    if broadcast.cancelled_at is not None:
        return "cancelled"
    return "active" if tally.get("pending") else "done"
