"""The scheduler's ordered writer: timer requests and outcomes written one at a time, in order.

Requests carry a strictly increasing stamp and the newer one wins, so two writes about
one timer must reach the store in the order they were made. Each goes to the store, or
to the write journal while the store is down (``Resilient``); once one has gone to the
journal, the following ones go there too, behind it, until a replay has emptied it
(:meth:`OrderedWriter.catch_up`). Writes are numbered, so the scheduler can tell
whether a given write was done before it read the store.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from callcenter.journal import Journal, Resilient, WriteOutcome
from callcenter.logs import get_logger
from callcenter.scheduler import records
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)

TimerKey = tuple[str, str]


@dataclass(slots=True)
class TimerWrite:
    """One journal-kind write about a timer; ``done`` resolves when it is stored or journaled."""

    journal_kind: str
    data: dict[str, Any]
    done: asyncio.Future[None] | None
    after: Callable[[], None] | None = None
    seq: int = 0

    @property
    def timer_key(self) -> TimerKey:
        """The (kind, key) of the timer written about."""
        return self.data["kind"], self.data["key"]


class OrderedWriter:
    """Writes timer writes in the order they were queued: to the store, else to the journal."""

    def __init__(self, journal: Journal, sessions: SessionFactory, *, db_timeout: float,
                 on_scheduled: Callable[[datetime], None]) -> None:
        self._journal = journal
        self._resilient = Resilient(journal, sessions, timeout=db_timeout)
        self._db_timeout = db_timeout
        # Told each stored or journaled schedule's due time: the loop may sleep past it.
        self._on_scheduled = on_scheduled
        self._writes: deque[TimerWrite] = deque()
        self._enqueued = 0  # writes numbered in order; ``_written``: how many are done
        self._written = 0
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._degraded = False  # a write went to the journal: replay it before claiming

    @property
    def written(self) -> int:
        """The number of the last write done (stored, journaled or failed)."""
        return self._written

    @property
    def degraded(self) -> bool:
        """Whether writes wait in the journal (the store is not to be read as complete)."""
        return self._degraded

    def running(self) -> asyncio.Task[None] | None:
        """The task writing queued writes, while there are any."""
        return self._task if self._task is not None and not self._task.done() else None

    def enqueue(self, write: TimerWrite) -> int:
        """Queue a write behind the others; returns its number."""
        self._enqueued += 1
        write.seq = self._enqueued
        self._writes.append(write)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._drain(), name="scheduler-writer")
        return write.seq

    async def catch_up(self) -> bool:
        """Replay the journal; True once nothing waits in it."""
        async with self._lock:
            report = await self._journal.replay()
            if report.blocked is None:
                self._degraded = False
        return not self._degraded

    async def close(self) -> None:
        """Let the queued writes finish, for a bounded time; log what is left unwritten."""
        if self._task is None:
            return
        try:
            async with asyncio.timeout(self._db_timeout * 2):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            log.error("timer writes left unwritten at close", count=len(self._writes))

    async def _drain(self) -> None:
        while self._writes:
            write = self._writes[0]
            try:
                async with self._lock:
                    await self._apply(write)
            except Exception as err:  # noqa: BLE001 - task boundary: the caller hears of it
                log.error("timer write failed", kind=write.data.get("kind"),
                          key=write.data.get("key"), exc_info=err)
                if write.done is not None and not write.done.done():
                    write.done.set_exception(err)
            else:
                if write.done is not None and not write.done.done():
                    write.done.set_result(None)
                if write.after is not None:
                    write.after()
            finally:
                self._writes.popleft()
                self._written = write.seq

    async def _apply(self, write: TimerWrite) -> None:
        key = f"{write.journal_kind}:{write.data['kind']}:{write.data['key']}:" \
              f"{write.data['requested_at']}:{write.data.get('attempts', 0)}"
        if self._degraded:  # keep the order: while older writes wait in the journal
            await self._journal.write(write.journal_kind, write.data, key)
            return
        if await self._resilient.write(write.journal_kind, write.data, key) is \
                WriteOutcome.JOURNALED:
            self._degraded = True
        if write.journal_kind == records.SCHEDULE_KIND:
            self._on_scheduled(datetime.fromisoformat(write.data["due_at"]))
