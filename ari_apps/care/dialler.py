"""Pacing: care calls never starve the SOS and the hotline of lines.

At most ``CARE_MAX_PER_TRUNK`` care calls at once on each trunk and
``CARE_CALLS_PER_SECOND`` new ones per second. While SOS incidents are active
(``CARE_PAUSE_SOS_ACTIVE``) or callers wait in the hotline queues
(``CARE_PAUSE_HOTLINE_WAITING``) nothing new is dialled; a paused campaign's calls wait
in the queue. Calls already on the line go on. The queue is memory: what it holds is
also in the store (``care_tasks`` queued, with this process as owner), and the watch
timers hand a dead process's calls to another (see ``services.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from ari_apps.care.models import CareKind
from callcenter.bus import BusMessage
from callcenter.logs import get_logger

log = get_logger(__name__)

SOS_STARTED = "sos.started"
SOS_ENDED = "sos.ended"
#: Published by the hotline: ``{queue, waiting, …}`` whenever a queue changes.
HOTLINE_QUEUE = "hotline.queue.changed"


@dataclass
class Job:
    """One attempt of one care call, waiting for a line."""

    task_id: str
    attempt: int
    kind: CareKind
    trunk: str
    #: Placed by hand (``call-now``): ahead of the campaigns.
    urgent: bool = False
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int]:
        return self.task_id, self.attempt


def trunk_of(dial_string: str) -> str:
    """The trunk a dial string goes out on: the part after ``@``, else its technology."""
    if "@" in dial_string:
        return dial_string.rpartition("@")[2]
    return dial_string.partition("/")[0] or "default"


class Dialler:
    """Starts queued calls as lines and the rate allow, unless a surge or a pause says no."""

    def __init__(
        self, place: Callable[[Job], Awaitable[None]], *, max_per_trunk: int,
        per_second: float, pause_sos: int, pause_hotline: int,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._place = place
        self.max_per_trunk = max_per_trunk
        self.interval = 1.0 / per_second
        self._pause_sos = pause_sos
        self._pause_hotline = pause_hotline
        self._sleep = sleep
        self._now = now
        self._queue: list[Job] = []
        self._queued: set[tuple[str, int]] = set()
        self.active: dict[tuple[str, int], Job] = {}
        self._per_trunk: Counter[str] = Counter()
        self.paused_kinds: set[CareKind] = set()
        self.sos_active: set[str] = set()
        self.hotline_waiting: dict[str, int] = {}
        self._next_start = 0.0
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.started = 0
        self.idle = asyncio.Event()
        self.idle.set()

    # -- what holds calls back ---------------------------------------------------------

    @property
    def surge(self) -> str | None:
        """Why campaigns are paused by themselves now, or None."""
        if self._pause_sos and len(self.sos_active) >= self._pause_sos:
            return f"sos:{len(self.sos_active)}"
        waiting = sum(self.hotline_waiting.values())
        if self._pause_hotline and waiting >= self._pause_hotline:
            return f"hotline:{waiting}"
        return None

    async def on_bus(self, message: BusMessage) -> None:
        """SOS incidents starting and ending, hotline queues changing (``host.subscribe``)."""
        payload = message.payload
        if message.topic == SOS_STARTED and payload.get("id"):
            self.sos_active.add(str(payload["id"]))
        elif message.topic == SOS_ENDED and payload.get("id"):
            self.sos_active.discard(str(payload["id"]))
        elif message.topic == HOTLINE_QUEUE and payload.get("queue") is not None:
            try:
                self.hotline_waiting[str(payload["queue"])] = max(0, int(payload["waiting"]))
            except (KeyError, TypeError, ValueError):
                log.warning("hotline queue message without a waiting count", topic=message.topic)
                return
        else:
            return
        log.info("care pacing: surge state", surge=self.surge)
        self._changed.set()

    def set_sos_active(self, incidents: set[str]) -> None:
        """The active incidents as the store has them (at start)."""
        self.sos_active = set(incidents)
        self._changed.set()

    def pause(self, kind: CareKind, paused: bool) -> None:
        """Hold (or release) one campaign's queued calls."""
        if paused:
            self.paused_kinds.add(kind)
        else:
            self.paused_kinds.discard(kind)
        self._changed.set()

    # -- the queue -----------------------------------------------------------------------

    def holds(self, task_id: str, attempt: int) -> bool:
        """Whether this dialler has the attempt queued or on the line."""
        return (task_id, attempt) in self._queued or (task_id, attempt) in self.active

    def held_tasks(self) -> list[str]:
        return [key[0] for key in (*self._queued, *self.active)]

    def submit(self, job: Job) -> bool:
        """Queue an attempt (once); False when it is queued or on the line already."""
        if self.holds(*job.key):
            return False
        if job.urgent:
            self._queue.insert(0, job)
        else:
            self._queue.append(job)
        self._queued.add(job.key)
        self.idle.clear()
        self._changed.set()
        return True

    def adopt(self, job: Job) -> None:
        """A call already on the line (taken back after a restart) holds its line too."""
        if job.key not in self.active:
            self.active[job.key] = job
            self._per_trunk[job.trunk] += 1
            self.idle.clear()

    def release(self, job: Job) -> None:
        """The attempt's call ended: its line is free."""
        if self.active.pop(job.key, None) is not None:
            self._per_trunk[job.trunk] -= 1
        if not self._queue and not self.active:
            self.idle.set()
        self._changed.set()

    def status(self) -> dict[str, Any]:
        return {"queued": len(self._queue), "active": len(self.active),
                "per_trunk": {t: n for t, n in self._per_trunk.items() if n},
                "surge": self.surge, "paused": sorted(k.value for k in self.paused_kinds)}

    def _pick(self) -> Job | None:
        if self.surge is not None:
            return None
        for index, job in enumerate(self._queue):
            if job.kind in self.paused_kinds and not job.urgent:
                continue
            if self._per_trunk[job.trunk] >= self.max_per_trunk:
                continue
            return self._queue.pop(index)
        return None

    # -- the loop ------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="care-dialler")

    async def close(self) -> None:
        task, self._task = self._task, None
        for running in (task, *self._calls):
            if running is not None:
                running.cancel()
        await asyncio.gather(*(t for t in (task, *self._calls) if t), return_exceptions=True)

    async def _run(self) -> None:
        while True:
            self._changed.clear()
            job = self._pick()
            if job is None:
                await self._changed.wait()
                continue
            wait = self._next_start - self._now()
            if wait > 0:
                self._queue.insert(0, job)  # back to its place while the rate holds it
                await self._sleep(wait)
                continue
            self._queued.discard(job.key)
            self.active[job.key] = job
            self._per_trunk[job.trunk] += 1
            self._next_start = max(self._next_start, self._now()) + self.interval
            self.started += 1
            call = asyncio.get_running_loop().create_task(self._start(job),
                                                          name=f"care-call-{job.task_id}")
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)

    async def _start(self, job: Job) -> None:
        try:
            await self._place(job)
        except Exception:  # noqa: BLE001 - task boundary: the call's own code settles it
            log.exception("care call could not be placed", task=job.task_id)
            self.release(job)
