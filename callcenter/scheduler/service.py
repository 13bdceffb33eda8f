"""The scheduler: durable timers, each run by exactly one process, retried, reported.

A feature registers a handler per timer kind and schedules timers by (kind, key).
Writes go through one ordered writer (writer.py): to the store, or to the write journal
while the store is down. Timers this process scheduled are also kept in memory
until they are due, so that they still fire while the store is unreachable (DESIGN
invariant 1: an SOS escalation never waits on the database); such a run is settled in
the store once it is back, and a claim of the same timer then takes that outcome
instead of running the handler again.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from callcenter.bus import Bus, BusMessage
from callcenter.errors import DomainError
from callcenter.journal import Journal, is_store_unavailable
from callcenter.logs import get_logger
from callcenter.scheduler import records
from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.scheduler.records import Timer, iso
from callcenter.scheduler.writer import OrderedWriter, TimerKey, TimerWrite
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

TimerHandler = Callable[[Timer], Awaitable[None]]
Clock = Callable[[], datetime]
FAILED_TOPIC = "scheduler.failed"
_MAX_BACKOFF = 3600.0


class InvalidTimer(DomainError):
    """A schedule request the scheduler cannot take (bad kind, key, time or payload)."""

    error_id = "invalid-timer"
    status = 422


@dataclass(frozen=True, slots=True)
class _Outcome:
    error: str | None
    attempts: int


class Scheduler:
    """Runs due timers through the handler registered for their kind."""

    def __init__(
        self, sessions: SessionFactory, journal: Journal, bus: Bus, *, clock: Clock = utcnow,
        poll_seconds: float = 1.0, max_attempts: int = 5, retry_seconds: float = 10.0,
        lease_seconds: float = 120.0, db_timeout: float = 5.0, batch_size: int = 50,
        owner: str | None = None,
    ) -> None:
        self._sessions = sessions
        self._writer = OrderedWriter(journal, sessions, db_timeout=db_timeout,
                                     on_scheduled=self._scheduled)
        self._bus = bus
        self._clock = clock
        self._poll = poll_seconds
        self._max_attempts = max_attempts
        self._retry = retry_seconds
        self._lease = timedelta(seconds=lease_seconds)
        # A handler is cut off at half its lease, so a lease never runs out under a live run.
        self._handler_timeout = lease_seconds / 2
        self._db_timeout = db_timeout
        self._batch = batch_size
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._handlers: dict[str, TimerHandler] = {}
        self._local: dict[TimerKey, Timer] = {}
        self._local_runs: dict[TimerKey, tuple[datetime, asyncio.Task[_Outcome]]] = {}
        self._local_seq: dict[TimerKey, int] = {}  # the write behind each timer in memory
        self._runs: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._next_wake: datetime | None = None
        self._loop: asyncio.Task[None] | None = None
        self._last_stamp: datetime | None = None
        records.register_journal_kinds(journal)

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: SessionFactory, journal: Journal, bus: Bus,
        **overrides: Any,
    ) -> Scheduler:
        """A scheduler tuned by the ``SCHEDULER_*`` settings."""
        tuning: dict[str, Any] = {
            "poll_seconds": settings.scheduler_poll_seconds,
            "max_attempts": settings.scheduler_max_attempts,
            "retry_seconds": settings.scheduler_retry_seconds,
            "lease_seconds": settings.scheduler_lease_seconds,
        }
        return cls(sessions, journal, bus, **{**tuning, **overrides})

    @property
    def kinds(self) -> tuple[str, ...]:
        """The timer kinds this process runs."""
        return tuple(self._handlers)

    def register(self, kind: str, handler: TimerHandler) -> None:
        """Run timers of ``kind`` with ``handler`` in this process."""
        if kind in self._handlers:
            raise ValueError(f"timer kind {kind!r} is already registered")
        self._handlers[kind] = handler

    # -- requests --------------------------------------------------------------------

    async def schedule(self, kind: str, key: str, due_at: datetime,
                       payload: Mapping[str, Any] | None = None) -> None:
        """Arm the timer, or move it if (kind, key) exists; returns once stored or journaled."""
        await self._request(self._schedule_write(kind, key, due_at, payload, wait=True))

    def schedule_nowait(self, kind: str, key: str, due_at: datetime,
                        payload: Mapping[str, Any] | None = None) -> None:
        """Arm the timer without waiting on the store (for call flows)."""
        self._enqueue(self._schedule_write(kind, key, due_at, payload, wait=False))

    async def cancel(self, kind: str, key: str) -> None:
        """Disarm the timer (it never fires); returns once stored or journaled."""
        await self._request(self._cancel_write(kind, key, wait=True))

    def cancel_nowait(self, kind: str, key: str) -> None:
        """Disarm the timer without waiting on the store."""
        self._enqueue(self._cancel_write(kind, key, wait=False))

    async def timers(self, *, state: str | None = None, kind: str | None = None,
                     limit: int = 200) -> list[ScheduledTimer]:
        """Stored timers, the latest due first (for the admin page)."""
        async with self._sessions() as session:
            return await records.list_timers(session, state=state, kind=kind, limit=limit)

    def _stamp(self) -> datetime:
        # Strictly increasing in this process: the newer of two requests always wins.
        now = self._clock()
        if self._last_stamp is not None and now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return now

    def ensure_nowait(self, kind: str, key: str, due_at: datetime,
                      payload: Mapping[str, Any] | None = None) -> None:
        """Arm the timer unless (kind, key) is stored already, in whatever state.

        For recurring jobs (``recurring.py``): every process may ask at start, and a run
        already done or under way is left alone. The request carries the oldest stamp there
        is, so it inserts a missing row and never wins over one that exists.
        """
        data = _checked(kind, key, due_at, payload)
        self._writer.enqueue(TimerWrite(records.SCHEDULE_KIND, {
            "kind": kind, "key": key, "due_at": iso(due_at), "payload": data,
            "requested_at": iso(records.NEVER)}, None))

    async def prune(self, before: datetime) -> int:
        """Delete timers that finished (done, failed, cancelled) before ``before``."""
        async with asyncio.timeout(self._db_timeout), self._sessions.begin() as session:
            return await records.prune(session, before)

    def _schedule_write(self, kind: str, key: str, due_at: datetime,
                        payload: Mapping[str, Any] | None, *, wait: bool) -> TimerWrite:
        data = _checked(kind, key, due_at, payload)
        stamp = self._stamp()
        self._local[(kind, key)] = Timer(kind, key, due_at, data, 0, stamp)
        return self._write(records.SCHEDULE_KIND, {
            "kind": kind, "key": key, "due_at": iso(due_at), "payload": data,
            "requested_at": iso(stamp)}, wait)

    def _cancel_write(self, kind: str, key: str, *, wait: bool) -> TimerWrite:
        _check_key(kind, key)
        self._drop_local((kind, key))
        data = {"kind": kind, "key": key, "requested_at": iso(self._stamp())}
        return self._write(records.CANCEL_KIND, data, wait)

    def _write(self, journal_kind: str, data: dict[str, Any], wait: bool) -> TimerWrite:
        done = asyncio.get_running_loop().create_future() if wait else None
        return TimerWrite(journal_kind, data, done)

    async def _request(self, write: TimerWrite) -> None:
        self._enqueue(write)
        assert write.done is not None
        await write.done

    def _enqueue(self, write: TimerWrite) -> None:
        seq = self._writer.enqueue(write)
        if write.journal_kind == records.SCHEDULE_KIND:  # see _settle_memory: done yet, or lost?
            self._local_seq[write.timer_key] = seq

    def _scheduled(self, due: datetime) -> None:
        if self._next_wake is None or due <= self._next_wake:
            self._wake.set()  # an earlier timer than the loop sleeps for

    # -- the loop --------------------------------------------------------------------

    def start(self) -> None:
        """Claim and run due timers until :meth:`close`."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop().create_task(self._run(), name="scheduler")

    def wake(self) -> None:
        """Run a pass now."""
        self._wake.set()

    async def drain(self) -> None:
        """Wait until the runs started so far have ended and every queued write is done."""
        while True:
            runs = [*self._runs, *(task for _, task in self._local_runs.values())]
            runs = [task for task in runs if not task.done()]
            writer = self._writer.running()
            if not runs and writer is None:
                return
            await asyncio.gather(*runs, return_exceptions=True)
            if writer is not None:
                await asyncio.shield(writer)

    async def close(self) -> None:
        """Stop claiming, cancel running handlers (their leases expire), flush the writes."""
        loop, self._loop = self._loop, None
        if loop is not None:
            loop.cancel()
            await asyncio.gather(loop, return_exceptions=True)
        runs = [*self._runs, *(task for _, task in self._local_runs.values())]
        for task in runs:
            task.cancel()
        await asyncio.gather(*runs, return_exceptions=True)
        await self._writer.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            started = 0
            try:
                started = await self.run_due()
            except Exception as err:  # noqa: BLE001 - task boundary: log, keep the loop alive
                log.error("scheduler pass failed", exc_info=err)
            if started >= self._batch:
                continue  # more may be due right now
            delay = self._poll
            if self._next_wake is not None:
                until = (self._next_wake - self._clock()).total_seconds()
                delay = max(0.0, min(delay, until))
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def run_due(self) -> int:
        """One pass: claim and start due timers; fire from memory when the store is down."""
        now = self._clock()
        written = self._writer.written  # writes done before this pass reads the store
        kinds = list(self._handlers)
        due_local = [k for k, t in self._local.items()
                     if t.due_at <= now and k not in self._local_runs]
        try:
            if self._writer.degraded and not await self._writer.catch_up():
                raise ConnectionError("journal replay blocked")
            async with asyncio.timeout(self._db_timeout), self._sessions.begin() as session:
                claimed = await records.claim_due(
                    session, kinds=kinds, owner=self.owner, now=now, lease=self._lease,
                    limit=self._batch, max_attempts=self._max_attempts)
            async with asyncio.timeout(self._db_timeout), self._sessions() as session:
                next_wake = await records.next_wake(session, kinds)
                stored = await records.requested_stamps(session, due_local)
        except Exception as err:
            if not is_store_unavailable(err):
                raise
            log.warning("store unreachable: due timers fire from memory",
                        error=err.__class__.__name__, due=len(due_local))
            for key in due_local:
                self._fire_from_memory(self._local[key])
            self._next_wake = min((t.due_at for t in self._local.values()), default=None)
            return len(due_local)
        for timer in claimed.exhausted:
            await self._report_failed(timer, timer.attempt, "lease expired on the last attempt")
        for timer in claimed.timers:
            self._spawn(self._run_claimed(timer))
        for key in due_local:
            self._settle_memory(key, stored.get(key), written)
        moments = [m for m in (next_wake, *(t.due_at for t in self._local.values())) if m]
        self._next_wake = min(moments, default=None)
        return len(claimed.timers)

    def _settle_memory(self, key: TimerKey, stored: datetime | None, written: int) -> None:
        """A due timer kept in memory, with the store up: the store now runs it, or not."""
        timer = self._local.get(key)
        if timer is None:
            return
        if stored is not None and stored >= timer.requested_at:
            self._drop_local(key)  # claimed from the store (here or elsewhere), or superseded
        elif self._local_seq.get(key, 0) <= written and not self._writer.degraded:
            # Written before this pass read the store, yet not there: the journal
            # rejected it (see rejected.jsonl). Nothing will run it from the store.
            self._drop_local(key)
            log.error("timer write lost: not in the store", kind=key[0], key=key[1])

    def _drop_local(self, key: TimerKey, requested_at: datetime | None = None) -> None:
        timer = self._local.get(key)
        if timer is not None and requested_at in (None, timer.requested_at):
            del self._local[key]
            self._local_seq.pop(key, None)

    def _spawn(self, run: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(run)
        self._runs.add(task)
        task.add_done_callback(self._runs.discard)

    # -- running ---------------------------------------------------------------------

    async def _execute(self, timer: Timer) -> str | None:
        handler = self._handlers.get(timer.kind)
        if handler is None:
            return f"no handler for timer kind {timer.kind!r} in this process"
        try:
            async with asyncio.timeout(self._handler_timeout):
                await handler(timer)
        except Exception as err:  # noqa: BLE001 - task boundary: retried, then reported
            log.warning("timer handler failed", kind=timer.kind, key=timer.key,
                        attempt=timer.attempt, error=repr(err))
            return f"{err.__class__.__name__}: {err}"
        return None

    def _backoff(self, attempt: int) -> timedelta:
        return timedelta(seconds=min(_MAX_BACKOFF, self._retry * 2 ** (attempt - 1)))

    async def _run_claimed(self, timer: Timer) -> None:
        key = (timer.kind, timer.key)
        local = self._local_runs.get(key)
        if local is not None and local[0] == timer.requested_at:
            outcome = await local[1]  # it ran from memory while the store was down
            error, attempts = outcome.error, timer.attempt
            final = True
        else:
            self._drop_local(key, timer.requested_at)
            error, attempts = await self._execute(timer), timer.attempt
            final = error is None or attempts >= self._max_attempts
        data: dict[str, Any] = {
            "kind": timer.kind, "key": timer.key, "requested_at": iso(timer.requested_at),
            "attempts": attempts, "claimed_by": self.owner, "error": error,
            "outcome": TimerState.DONE.value if error is None else TimerState.FAILED.value,
        }
        if not final:
            data["outcome"] = "retry"
            data["due_at"] = iso(self._clock() + self._backoff(attempts))
        elif error is not None and local is None:
            await self._report_failed(timer, attempts, error)
        self._enqueue(TimerWrite(records.SETTLE_KIND, data, None))

    def _fire_from_memory(self, timer: Timer) -> None:
        key = (timer.kind, timer.key)
        task = asyncio.get_running_loop().create_task(
            self._run_from_memory(timer), name=f"timer-memory:{timer.kind}:{timer.key}")
        self._local_runs[key] = (timer.requested_at, task)

    async def _run_from_memory(self, timer: Timer) -> _Outcome:
        key = (timer.kind, timer.key)
        attempt, error = 0, None
        while attempt < self._max_attempts:
            attempt += 1
            error = await self._execute(replace(timer, attempt=attempt))
            if error is None or attempt >= self._max_attempts:
                break
            await asyncio.sleep(self._backoff(attempt).total_seconds())  # the store is down
        self._drop_local(key, timer.requested_at)
        if error is not None:
            await self._report_failed(timer, attempt, error)
        data = {"kind": timer.kind, "key": timer.key, "requested_at": iso(timer.requested_at),
                "attempts": attempt, "claimed_by": None, "error": error,
                "outcome": TimerState.DONE.value if error is None else TimerState.FAILED.value}

        def forget() -> None:
            if self._local_runs.get(key, (None,))[0] == timer.requested_at:
                del self._local_runs[key]

        self._enqueue(TimerWrite(records.SETTLE_KIND, data, None, after=forget))
        return _Outcome(error, attempt)

    async def _report_failed(self, timer: Timer, attempts: int, error: str) -> None:
        log.error("timer failed", kind=timer.kind, key=timer.key, attempts=attempts, error=error)
        await self._bus.publish(BusMessage(
            FAILED_TOPIC,
            {"kind": timer.kind, "key": timer.key, "attempts": attempts, "error": error,
             "due_at": iso(timer.due_at)},
            audience={"roles": ["admin"]},
        ))


def _checked(kind: str, key: str, due_at: datetime,
             payload: Mapping[str, Any] | None) -> dict[str, Any]:
    _check_key(kind, key)
    if due_at.tzinfo is None:
        raise InvalidTimer("due_at must be timezone-aware", {"kind": kind, "key": key})
    data = dict(payload or {})
    try:
        json.dumps(data)  # what the store's JSON column takes (orjson would take datetimes)
    except (TypeError, ValueError) as err:
        raise InvalidTimer(f"payload is not JSON: {err}", {"kind": kind, "key": key}) from err
    return data


def _check_key(kind: str, key: str) -> None:
    if not kind or len(kind) > 64:
        raise InvalidTimer("a timer kind is 1 to 64 characters", {"kind": kind})
    if not key or len(key) > 200:
        raise InvalidTimer("a timer key is 1 to 200 characters", {"kind": kind, "key": key})
