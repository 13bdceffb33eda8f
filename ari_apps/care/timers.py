"""The care feature's durable timers: each day's layout, attempts, watches and visits.

- ``care.day`` (``recurring.every_day`` at ``CARE_LAYOUT_AT``): the day's tasks from the
  plans, each with its ``care.call`` timer ``<task>:1`` (inserted once, never re-armed);
- ``care.call`` ``<task>:<attempt>``: hands the attempt to this process's dialler, marks
  the task queued with this process as owner, and arms its watch;
- ``care.watch`` ``<task>:<attempt>``: while an owner holds the attempt (its heartbeat is
  fresh) the watch moves on; otherwise (the owner died) this process takes it: dials an
  attempt never placed, takes back a call still on the line, and counts a call that
  vanished with its process as failed (the next try follows);
- ``care.visit`` ``<task>``: the welfare visit of an elder still not reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, update

from ari_apps.care.broadcasts import stop_reason
from ari_apps.care.dialler import Dialler, Job, trunk_of
from ari_apps.care.models import CareKind, CareResult, CareTask, TaskState
from ari_apps.care.plans import call_id, parse_time
from ari_apps.care.records import AttemptEnd, settle, visit_due
from ari_apps.care.services import (
    CALL_KIND,
    DAY_KIND,
    VISIT_KIND,
    WATCH_KIND,
    arm_timer,
    event,
    layout_day,
    local_day,
    target_of,
)
from ari_apps.care.stasis import CareCalls
from callcenter.asterisk import AriNotFound
from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.scheduler import Scheduler, Timer
from callcenter.scheduler.recurring import DailyJob, every_day
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)


def split_key(key: str) -> tuple[str, int]:
    task, _, attempt = key.rpartition(":")
    return task, int(attempt)


def register_layout(scheduler: Scheduler, sessions: SessionFactory, settings: Settings,
                    clock: Callable[[], datetime] = utcnow) -> None:
    """Every process: the daily layout and the welfare visits (the store is all they need)."""
    zone = ZoneInfo(settings.time_zone)

    async def layout(due_at: datetime) -> None:
        count = await layout_day(sessions, settings, local_day(settings, due_at))
        log.info("care calls laid out", day=local_day(settings, due_at).isoformat(),
                 calls=count)

    every_day(scheduler, DailyJob(DAY_KIND, parse_time(settings.care_layout_at), zone), layout,
              clock=clock)

    async def visit(timer: Timer) -> None:
        number = await visit_due(sessions, timer.key)
        if number is not None:
            log.info("welfare visit ordered", task=timer.key, work_order=number)

    scheduler.register(VISIT_KIND, visit)


class CallTimers:
    """``care.call`` and ``care.watch`` in a process with call control."""

    def __init__(self, calls: CareCalls, scheduler: Scheduler, dialler: Dialler,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.calls = calls
        self.scheduler = scheduler
        self.dialler = dialler
        self.sessions = calls.sessions
        self.settings = calls.settings
        self.clock = clock
        self.trunk = trunk_of(self.settings.dial_template.format(number="0"))
        self._heartbeat: asyncio.Task[None] | None = None
        # Queuing a campaign's thousands of attempts never holds up the calls on the line
        # (they store their answers and ends through ``calls.store_slots``).
        self._queue_slots = asyncio.Semaphore(2)

    def register(self) -> None:
        self.scheduler.register(CALL_KIND, self.on_call)
        self.scheduler.register(WATCH_KIND, self.on_watch)

    @property
    def watch(self) -> timedelta:
        return timedelta(seconds=self.settings.care_watch_seconds)

    async def queue(self, task_id: str, attempt: int, *, urgent: bool = False) -> bool:
        """Hand an attempt to the dialler (once) and arm its watch."""
        now = self.clock()
        async with self._queue_slots, self.sessions.begin() as session:
            row = (await session.execute(
                update(CareTask).where(CareTask.id == task_id, CareTask.attempts < attempt,
                                       CareTask.state.not_in([TaskState.DONE.value,
                                                              TaskState.CANCELLED.value]))
                .values(state=TaskState.QUEUED.value, owner=self.calls.owner,
                        heartbeat_at=now, updated_at=utcnow())
                .returning(CareTask.kind, CareTask.broadcast_id, CareTask.elder_id))).first()
            if row is None:
                return False
            kind, broadcast_id, elder_id = CareKind(row[0]), row[1], row[2]
            stop = await stop_reason(session, broadcast_id, now)
            if stop is not None:  # a warning cancelled or expired: never placed
                await session.execute(update(CareTask).where(CareTask.id == task_id).values(
                    state=TaskState.CANCELLED.value, reason=stop, owner=None))
                await event(session, "broadcast.stopped", elder_id=elder_id, task=task_id,
                            detail={"reason": stop})
                return False
            # In the same transaction as the task's state (one commit per attempt queued,
            # none through the scheduler's writer): queued ⇒ watched.
            await arm_timer(session, WATCH_KIND, f"{task_id}:{attempt}", now + self.watch,
                            requested_at=now)
        return self.dialler.submit(Job(task_id, attempt, kind, self.trunk, urgent=urgent))

    async def on_call(self, timer: Timer) -> None:
        task_id, attempt = split_key(timer.key)
        await self.queue(task_id, attempt, urgent=bool(timer.payload.get("urgent")))

    async def on_watch(self, timer: Timer) -> None:
        task_id, attempt = split_key(timer.key)
        now = self.clock()
        again = now + self.watch
        if self.dialler.holds(task_id, attempt):
            self.scheduler.schedule_nowait(WATCH_KIND, timer.key, again)
            return
        # Nothing is awaited but the store inside this read: on SQLite it holds the write
        # lock (BEGIN IMMEDIATE), which the scheduler's writer needs to move the watch.
        async with self.sessions() as session:
            task = await session.get(CareTask, task_id)
            if task is None or task.state in (TaskState.DONE.value, TaskState.CANCELLED.value,
                                              TaskState.SCHEDULED.value):
                return
            fresh = task.heartbeat_at is not None and now - task.heartbeat_at < self.watch
            held_elsewhere = task.owner not in (None, self.calls.owner) and fresh
            row = None if held_elsewhere else await session.get(Call, call_id(task_id, attempt))
        if held_elsewhere:
            await self.scheduler.schedule(WATCH_KIND, timer.key, again)
            return
        if row is None:  # never dialled: its process died with it in the queue
            log.info("care call taken over from a process that stopped", task=task_id)
            await self.queue(task_id, attempt)
            return
        if row.outcome is not None:
            return
        await self._take_back(task_id, attempt, timer.key, again)

    async def _take_back(self, task_id: str, attempt: int, key: str, again: datetime) -> None:
        ident = call_id(task_id, attempt)
        client = self.calls._client()
        try:
            channel = await client.channels.get(ident)
        except AriNotFound:
            async with self.sessions() as session:
                row = await session.get(Call, ident)
            if row is not None and row.dialled_at is None and not row.disposition:
                await self._place_again(task_id, attempt, ident)
                return
            async with self.sessions() as session:
                task = await session.get(CareTask, task_id)
                target = await target_of(session, task) if task is not None else None
            if row is not None and row.disposition:  # answered, then its process stopped
                end = AttemptEnd(task_id, attempt, ident, CareResult(row.disposition),
                                 row.note, row.answered_at)
            else:
                end = AttemptEnd(task_id, attempt, ident, CareResult.FAILED,
                                 "the call was lost with the process that placed it")
            settled = await settle(self.sessions, self.settings, end,
                                   report_to_kin=target.report_to_kin if target else False,
                                   elder_name=target.name if target else "", now=self.clock())
            if settled is not None and settled.notes:
                await self.calls.submit_notes(list(settled.notes))
            return
        call = self.calls.calls.get(ident) or await self.calls.adopt(ident, client.node)
        if call is not None:
            await self.calls.resume(call, channel.state)
        await self.scheduler.schedule(WATCH_KIND, key, again)

    async def _place_again(self, task_id: str, attempt: int, ident: str) -> None:
        """An attempt written whose originate Asterisk never took (its process stopped in
        between): no call was made, so the same attempt is placed now, not counted failed."""
        async with self.sessions.begin() as session:
            row = (await session.execute(
                update(CareTask).where(CareTask.id == task_id, CareTask.attempts == attempt,
                                       CareTask.state == TaskState.CALLING.value)
                .values(attempts=attempt - 1, state=TaskState.QUEUED.value, owner=None,
                        updated_at=utcnow())
                .returning(CareTask.elder_id))).first()
            if row is None:  # another process got there first
                return
            await session.execute(delete(Call).where(Call.id == ident,
                                                     Call.dialled_at.is_(None)))
            await event(session, "call.not_dialled", elder_id=row[0], task=task_id,
                        detail={"attempt": attempt,
                                "why": "its process stopped before Asterisk took the call"})
        log.info("care call never dialled by a process that stopped: placed again",
                 task=task_id, attempt=attempt)
        await self.queue(task_id, attempt)

    # -- the heartbeat: this process still holds its queued calls ----------------------------

    def start(self) -> None:
        self._heartbeat = asyncio.get_running_loop().create_task(self._beat(),
                                                                 name="care-heartbeat")

    async def close(self) -> None:
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)

    async def beat_once(self) -> None:
        held = self.dialler.held_tasks()
        if not held:
            return
        async with self.sessions.begin() as session:
            await session.execute(update(CareTask).where(
                CareTask.id.in_(held), CareTask.owner == self.calls.owner)
                .values(heartbeat_at=self.clock()))

    async def _beat(self) -> None:
        while True:
            await self.calls.sleep(self.settings.care_watch_seconds / 3)
            try:
                await self.beat_once()
            except Exception as err:  # noqa: BLE001 - the next beat tries again
                log.warning("care heartbeat not written", error=repr(err))
